"""One command on one SSH channel: the hot path of SSHConnection.run, straight on paramiko.

A new session channel per command, read by a select loop in the calling
thread (invoke's runner would start threads per stream per command); stdin,
when given, is sent by one feeder thread so output keeps flowing meanwhile.
The remote shell first prints its pid, which is its process group (sshd
makes every session a session leader): a timeout stops that whole group.
"""

from __future__ import annotations

import io
import select
import shlex
import threading
import time
from typing import IO

import paramiko

from deployplay.runner.connections.local import become_wrap

BUFSIZE = 65536
# How often a waiting command looks at its deadline and at its transport's health.
POLL_S = 1.0


class ChannelLost(Exception):
    """The transport died (or never answered) while a command was starting or running."""


class ChannelRefused(Exception):
    """The server answered but refused a new channel (e.g. MaxSessions): the host is there."""


class ChannelTimeout(Exception):
    """The command ran past its timeout; its process group was stopped."""


def remote_command(
    command: str,
    *,
    env: dict[str, str] | None,
    cwd: str | None,
    become: bool,
    become_user: str | None,
) -> str:
    """The line sshd runs: print the pid, then /bin/sh (or sudo) with env and cwd set up.

    sshd drops most environment requests (AcceptEnv), so env goes into the script.
    """
    lines = []
    if cwd:
        lines.append(f"cd -- {shlex.quote(cwd)} || exit 1")
    for key, value in (env or {}).items():
        if not key.isidentifier() or not key.isascii():
            raise ValueError(f"invalid environment variable name {key!r}")
        lines.append(f"{key}={shlex.quote(str(value))}; export {key}")
    script = "\n".join([*lines, command])
    wrapped = become_wrap(script, become, become_user)
    if not become:
        wrapped = f"/bin/sh -c {shlex.quote(script)}"
    return f"echo $$; exec {wrapped}"


def run_on_channel(
    transport: paramiko.Transport,
    remote: str,
    *,
    stdin: bytes | IO[bytes] | None,
    timeout: float | None,
    wait_s: float,
    become: bool,
) -> tuple[bytes, bytes, int]:
    """Run `remote` (from remote_command) on a new channel: (stdout, stderr, exit code).

    `wait_s` bounds each wait on the host (channel open, exit status after EOF).
    Raises ChannelLost, ChannelRefused or ChannelTimeout.
    """
    try:
        chan = transport.open_session(timeout=wait_s)
    except paramiko.ChannelException as exc:
        raise ChannelRefused(str(exc)) from None
    except Exception as exc:
        raise ChannelLost(f"connection lost (no answer to a new channel: {exc})") from None
    try:
        chan.exec_command(remote)
        feeder = _start_stdin(chan, stdin)
        deadline = time.monotonic() + timeout if timeout else None
        out, err, code = _collect(chan, deadline, wait_s)
        if code is None:
            _kill_group(transport, out, become, wait_s)
            raise ChannelTimeout()
        if feeder is not None:
            feeder.join(timeout=wait_s)
    except (OSError, EOFError, paramiko.SSHException) as exc:
        if _alive(chan):
            raise
        raise ChannelLost(f"connection lost while running a command ({exc})") from None
    finally:
        chan.close()
    _pid, _, stdout = bytes(out).partition(b"\n")
    return stdout, bytes(err), code


def _collect(
    chan: paramiko.Channel, deadline: float | None, wait_s: float
) -> tuple[bytearray, bytearray, int | None]:
    """Read both streams until the exit status; exit code None when the deadline passed."""
    out, err = bytearray(), bytearray()
    while True:
        while chan.recv_ready():
            out += chan.recv(BUFSIZE)
        while chan.recv_stderr_ready():
            err += chan.recv_stderr(BUFSIZE)
        # EOF covers both streams; the exit status follows it closely. paramiko also sets
        # status_event when the channel closes without one (the transport died).
        finished = (chan.eof_received or chan.closed) and chan.status_event.wait(
            0 if chan.closed else wait_s
        )
        if finished:
            if chan.recv_ready() or chan.recv_stderr_ready():
                continue
            if chan.exit_status == -1 and not _settled_alive(chan):
                raise ChannelLost("connection lost while running a command")
            # -1 on a live transport: the command was killed by a signal.
            return out, err, chan.exit_status
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            return out, err, None
        if not _alive(chan):
            raise ChannelLost("connection lost while running a command")
        wait = POLL_S if deadline is None else min(POLL_S, deadline - now)
        select.select([chan], [], [], max(wait, 0.0))


def _kill_group(transport: paramiko.Transport, out: bytearray, become: bool, wait_s: float) -> None:
    """Stop a timed-out command: TERM its process group, KILL it if it lingers."""
    pid = bytes(out).partition(b"\n")[0].strip()
    if not pid.isdigit():
        return
    group = f"-{int(pid)}"
    kill = (
        f"kill -TERM -- {group} 2>/dev/null || exit 0; i=0; "
        f"while kill -0 -- {group} 2>/dev/null && [ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done; "
        f"kill -KILL -- {group} 2>/dev/null; :"
    )
    if become:
        kill = f"sudo -n /bin/sh -c {shlex.quote(kill)}"
    try:
        chan = transport.open_session(timeout=wait_s)
        chan.exec_command(kill)
        chan.status_event.wait(wait_s)
        chan.close()
    except Exception:  # best effort: the timeout itself is what gets reported
        return


def _start_stdin(
    chan: paramiko.Channel, stdin: bytes | IO[bytes] | None
) -> threading.Thread | None:
    """Send stdin from a thread (so output keeps flowing while it sends), then EOF."""
    if stdin is None:
        chan.shutdown_write()  # a command reading stdin sees EOF at once
        return None
    stream = io.BytesIO(stdin) if isinstance(stdin, bytes) else stdin

    def feed() -> None:
        try:
            while chunk := stream.read(BUFSIZE):
                chan.sendall(chunk)
            chan.shutdown_write()
        except (OSError, EOFError, paramiko.SSHException):
            return  # the command exited or the host dropped: _collect reports that

    thread = threading.Thread(target=feed, name="dpl-ssh-stdin", daemon=True)
    thread.start()
    return thread


def _alive(chan: paramiko.Channel) -> bool:
    transport = chan.get_transport()
    return transport is not None and transport.is_active()


def _settled_alive(chan: paramiko.Channel) -> bool:
    """Is the transport alive after a channel closed without an exit status?

    A dying transport closes its channels a moment before it marks itself
    inactive, so look again briefly before calling it a live host.
    """
    deadline = time.monotonic() + 0.2
    while _alive(chan) and time.monotonic() < deadline:
        time.sleep(0.01)
    return _alive(chan)
