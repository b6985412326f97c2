"""RunState: what lasts for one run and is shared by every task (passed explicitly, never global).

The executor's RunContext (options, inventory, reporter, connections) lives
here too; RunState is the part modules may read and write.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deployplay.modules.registry import ModuleRegistry
    from deployplay.runner.connections.base import Connection
    from deployplay.runner.inventory import Inventory
    from deployplay.runner.reporting import Reporter
    from deployplay.runner.variables import VariableManager


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


@dataclass(frozen=True)
class RunOptions:
    """What the command line asked for; read-only for the whole run."""

    limit: str | None = None
    tags: tuple[str, ...] = ()
    skip_tags: tuple[str, ...] = ()
    check: bool = False
    diff: bool = False
    forks: int = 20
    verbosity: int = 0
    extra_vars: dict[str, Any] = field(default_factory=dict)
    accept_new_host_keys: bool = False
    known_hosts: tuple[Path, ...] = ()
    connect_timeout: float = 10.0
    force_promotion: str | None = None


class Connections:
    """One connection per host for the whole run, opened on first use and reused after.

    A play's `remote_user` (for a host whose inventory names no user) makes the key
    (host, user): a host reached as two users has two connections, each reused.
    """

    def __init__(self, opener: Callable[..., Connection]) -> None:
        # opener(host), or opener(host, user) when a play's remote_user applies.
        self._opener = opener
        self._open: dict[tuple[str, str | None], Connection] = {}
        self._lock = threading.Lock()
        self._local: Connection | None = None

    def get(self, host: str, user: str | None = None) -> Connection:
        key = (host, user)
        with self._lock:
            connection = self._open.get(key)
        if connection is None:
            # Opened outside the lock: hosts connect in parallel; one host is never opened twice
            # because the executor runs one task at a time per host.
            connection = self._opener(host) if user is None else self._opener(host, user)
            with self._lock:
                connection = self._open.setdefault(key, connection)
        return connection

    def local(self) -> Connection:
        """The controller's own connection, for controller modules and delegate_to: localhost."""
        from deployplay.runner.connections.local import LocalConnection

        with self._lock:
            if self._local is None:
                self._local = LocalConnection("localhost")
            return self._local

    def close_all(self) -> None:
        with self._lock:
            opened, self._open = list(self._open.values()), {}
        for connection in opened:
            # Closing is best effort at the end of a run: a dead host must not hide the recap.
            with contextlib.suppress(Exception):
                connection.close()


@dataclass
class RunContext:
    """Everything the runner needs, passed explicitly to every function that runs tasks."""

    options: RunOptions
    inventory: Inventory
    variables: VariableManager
    registry: ModuleRegistry
    reporter: Reporter
    connections: Connections
    run_state: RunState
    playbook_dir: Path
    interrupted: threading.Event = field(default_factory=threading.Event)
