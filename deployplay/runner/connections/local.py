"""LocalConnection: runs commands on this machine with /bin/sh (connection: local, localhost)."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO

from deployplay.errors import CommandTimeout
from deployplay.runner.results import CommandResult


def become_wrap(command: str, become: bool, become_user: str | None) -> str:
    """Wrap a shell command in sudo when become is asked for (and we are not already that user)."""
    if not become:
        return command
    user = become_user or "root"
    return f"sudo -n -H -u {shlex.quote(user)} /bin/sh -c {shlex.quote(command)}"


class LocalConnection:
    """Runs each command as a child process of the controller; put/get are file copies."""

    def __init__(self, host: str = "localhost") -> None:
        self.host = host

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
        if become and os.geteuid() == 0 and become_user in (None, "root"):
            become = False
        full_env = {**os.environ, **(env or {})}
        started = time.monotonic()
        # A new session so that a timeout can stop the whole process group, not just /bin/sh.
        proc = subprocess.Popen(
            ["/bin/sh", "-c", become_wrap(command, become, become_user)],
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=full_env,
            start_new_session=True,
        )
        data = stdin if isinstance(stdin, bytes | None) else stdin.read()
        try:
            out, err = proc.communicate(data, timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise CommandTimeout(f"command timed out after {timeout:g}s: {command}") from None
        return CommandResult(
            command=command,
            exit_code=proc.returncode,
            stdout=out.decode("utf-8", "replace"),
            stderr=err.decode("utf-8", "replace"),
            duration_s=time.monotonic() - started,
        )

    def put(self, src: Path | bytes, dest: str, *, mode: int | None = None) -> None:
        data = src if isinstance(src, bytes) else Path(src).read_bytes()
        target = Path(dest)
        # Write beside the target and rename, so a reader never sees half a file.
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            if mode is not None:
                os.chmod(tmp, mode)
            elif target.exists():
                os.chmod(tmp, target.stat().st_mode & 0o7777)
            else:
                os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, src: str) -> bytes:
        return Path(src).read_bytes()

    def close(self) -> None:
        pass


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=2)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
