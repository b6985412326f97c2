"""RunState: what lasts for one run and is shared by every task (passed explicitly, never global).

The executor's RunContext (options, inventory, reporter, connections) lives
here too; RunState is the part modules may read and write.
"""

from __future__ import annotations

import getpass
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


@dataclass
class RunState:
    """One run's identity and the per-host memory modules share (e.g. which release push replaced).

    `host(name)` is a dict a module may keep notes in for the rest of the run
    (push records the release it switched from; rollback reads it).
    `at_end` registers a cleanup (lock release) run when the run ends, also on
    failure and Ctrl-C, latest first.
    """

    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    user: str = field(default_factory=_user)
    controller: str = field(default_factory=socket.gethostname)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    force_promotion: str | None = None
    _hosts: dict[str, dict[str, Any]] = field(default_factory=dict)
    _cleanups: list[tuple[str, str, Callable[[], None]]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def host(self, name: str) -> dict[str, Any]:
        with self._lock:
            return self._hosts.setdefault(name, {})

    def at_end(self, host: str, description: str, action: Callable[[], None]) -> None:
        with self._lock:
            self._cleanups.append((host, description, action))

    def take_cleanups(self) -> list[tuple[str, str, Callable[[], None]]]:
        """The registered cleanups, latest first; each is handed out once."""
        with self._lock:
            cleanups, self._cleanups = self._cleanups[::-1], []
        return cleanups
