"""The Connection protocol every transport implements: connect, run, put, get, close.

A connection belongs to one host and lives for the whole run: it is opened on
first use and every later call reuses it. Implementations must be safe to use
from one thread at a time per host (the executor never runs two tasks on one
host at once) and may be opened from many threads in parallel across hosts.

Failures:
- the host cannot be reached, or drops off  -> raise UnreachableError
- the host key is refused                   -> raise HostKeyError
- a command runs past `timeout`             -> stop it, raise CommandTimeout
- a command exits non-zero                  -> return the CommandResult; that is not an exception
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Protocol, runtime_checkable

from deployplay.runner.results import CommandResult


@runtime_checkable
class Connection(Protocol):
    """One host's transport. Commands are POSIX shell strings run by /bin/sh on the host."""

    host: str

    def run(
        self,
        command: str,
        *,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        timeout: float | None = None,
        stdin: bytes | IO[bytes] | None = None,
        become: bool = False,
        become_user: str | None = None,
    ) -> CommandResult:
        """Run `command` with /bin/sh -c on the host; `stdin` may be a stream (a tar archive)."""
        ...

    def put(self, src: Path | bytes, dest: str, *, mode: int | None = None) -> None:
        """Write a local file (or these bytes) to `dest` on the host, atomically where possible."""
        ...

    def get(self, src: str) -> bytes:
        """Read a file from the host."""
        ...

    def close(self) -> None:
        """Close the transport; later calls reopen it."""
        ...
