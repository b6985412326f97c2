"""Handlers: who notified what, and running them in the order they are defined, once each.

A task that reports `changed` notifies handlers by name or by `listen` topic.
At a flush (the end of pre_tasks, tasks and post_tasks in each batch, or
`meta: flush_handlers`) each notified handler runs once, in the order the
handlers are defined in the play (not the order they were notified), on the
hosts that notified it. A handler may notify a later one in the same flush.

Notifying a name no handler has is an error found when the playbook is loaded
(model_parser), before any host is touched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence

from deployplay.runner.model import Handler, Play

# Enough passes for a chain of handlers each notifying the next; bounded all the same.
MAX_FLUSH_PASSES = 100


def handlers_for(play: Play, name: str) -> list[Handler]:
    """The handlers that answer `name`: the one so named and those that listen to it."""
    return [h for h in play.handlers if h.name == name or name in h.listen]


class HandlerBook:
    """The notifications of one play: handler -> hosts that notified it, in notification order."""

    def __init__(self, play: Play) -> None:
        self.play = play
        self._pending: dict[int, list[str]] = {}
        self._lock = threading.Lock()

    def notify(self, host: str, names: Iterable[str]) -> list[Handler]:
        """Record that `host` notified `names`; returns the handlers reached."""
        reached: list[Handler] = []
        with self._lock:
            for name in names:
                for handler in handlers_for(self.play, name):
                    hosts = self._pending.setdefault(id(handler), [])
                    if host not in hosts:
                        hosts.append(host)
                    reached.append(handler)
        return reached

    def pending(self) -> bool:
        with self._lock:
            return any(self._pending.values())

    def forget(self, hosts: Iterable[str]) -> None:
        """Drop the notifications of hosts that leave the play without running handlers."""
        gone = set(hosts)
        with self._lock:
            for key, notified in self._pending.items():
                self._pending[key] = [h for h in notified if h not in gone]

    def flush(
        self,
        run: Callable[[Handler, list[str]], None],
        eligible: Callable[[str], bool],
    ) -> None:
        """Run each notified handler once, in definition order, on its eligible notifying hosts."""
        for _ in range(MAX_FLUSH_PASSES):
            ran = False
            for handler in self.play.handlers:
                hosts = self._take(handler, eligible)
                if hosts:
                    ran = True
                    run(handler, hosts)
            if not ran:
                return

    def _take(self, handler: Handler, eligible: Callable[[str], bool]) -> list[str]:
        with self._lock:
            notified = self._pending.pop(id(handler), [])
        return [h for h in notified if eligible(h)]


def failure_handlers(play: Play, names: Sequence[str]) -> list[Handler]:
    """The failure handlers for these names, once each, in the order the play defines them."""
    wanted = {id(h) for name in names for h in handlers_for(play, name)}
    return [h for h in play.handlers if id(h) in wanted]
