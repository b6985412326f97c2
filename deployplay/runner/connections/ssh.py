"""SSHConnection: one SSH transport per host for the whole run, each command a new channel.

Fabric opens and configures the connection (~/.ssh/config, keys from the
inventory, ssh-agent or ~/.ssh defaults, jump hosts); the hot path, one
command on one host, goes straight to the paramiko transport Fabric holds:
one channel, one select loop in the calling thread. invoke's runner starts
threads per stream per command, which bench/bench_ssh.py measured as the
larger controller CPU cost.

Failures are bounded: connect, banner, auth and channel-open timeouts; on an
open transport, keepalives plus TCP_USER_TIMEOUT kill the socket when a host
stops answering, and the host is unreachable from then on.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shlex
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import fabric
import paramiko

from deployplay.errors import CommandTimeout, HostError, HostKeyError, UnreachableError
from deployplay.runner.connections.hostkeys import (
    bad_host_key_error,
    secure_client,
    user_known_hosts,
)
from deployplay.runner.connections.ssh_channel import (
    ChannelLost,
    ChannelRefused,
    ChannelTimeout,
    remote_command,
    run_on_channel,
)
from deployplay.runner.results import CommandResult


@dataclass(frozen=True, slots=True)
class SSHOptions:
    """Run-wide SSH settings (from the CLI); per-host ones come from host vars."""

    # --known-hosts files (one path is accepted too).
    known_hosts: tuple[Path, ...] | Path | None = ()
    accept_new_host_keys: bool = False
    connect_timeout: float = 10.0
    # Keepalive interval, and how long a host may acknowledge nothing before it is dropped
    # (TCP_USER_TIMEOUT); the environment may shorten them (tests) or lengthen them.
    keepalive_s: float = field(default_factory=lambda: _env_seconds("DEPLOYPLAY_SSH_KEEPALIVE", 5))
    dead_after_s: float = field(
        default_factory=lambda: _env_seconds("DEPLOYPLAY_SSH_DEAD_AFTER", 20)
    )
    # Tests point this away from the real ~/.ssh/known_hosts.
    user_known_hosts: Path | None = None


class SSHConnection:
    """One host over SSH; see the module docstring. Safe to open in parallel across hosts."""

    def __init__(
        self,
        host: str,
        *,
        hostname: str | None = None,
        port: int | None = None,
        user: str | None = None,
        key_filename: str | list[str] | None = None,
        jump: str | None = None,
        proxy_command: str | None = None,
        known_hosts: str | Path | None = None,
        options: SSHOptions | None = None,
    ) -> None:
        self.host = host
        self.hostname = hostname or host
        self.port = port
        self.user = user
        self.key_filename = [key_filename] if isinstance(key_filename, str) else key_filename
        self.jump = jump
        self.proxy_command = proxy_command
        self.options = options or SSHOptions()
        extra = [Path(known_hosts).expanduser()] if known_hosts else []
        cli_files = self.options.known_hosts or ()
        for path in [cli_files] if isinstance(cli_files, str | Path) else cli_files:
            extra.append(Path(path).expanduser())
        self.extra_known_hosts = extra
        self._lock = threading.Lock()
        self._fabric: fabric.Connection | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._dead: str | None = None

    @classmethod
    def from_settings(
        cls,
        settings: Any,
        *,
        accept_new_host_keys: bool = False,
        known_hosts: list[Path] | tuple[Path, ...] = (),
        connect_timeout: float = 10.0,
    ) -> SSHConnection:
        """Build from an inventory host's ConnectionSettings and the run's options.

        A ProxyJump (`-J`, `-o ProxyJump=`) or ProxyCommand in `ansible_ssh_common_args`
        is honoured when `jump` is not set.
        """
        jump, proxy_command = _proxy_from_args(settings.ssh_common_args or "")
        return cls(
            settings.name,
            hostname=settings.address,
            port=settings.port,
            user=settings.user,
            key_filename=settings.ssh_key,
            jump=settings.jump or jump,
            proxy_command=proxy_command,
            known_hosts=settings.known_hosts,
            options=SSHOptions(
                known_hosts=tuple(known_hosts),
                accept_new_host_keys=accept_new_host_keys,
                connect_timeout=connect_timeout,
            ),
        )

    # -- connecting ---------------------------------------------------------

    @property
    def fabric(self) -> fabric.Connection:
        """The open Fabric connection (opened on first use)."""
        self.open()
        assert self._fabric is not None
        return self._fabric

    @property
    def where(self) -> str:
        return f"{self.host} ({self.hostname}:{self.port or 22})"

    def open(self) -> None:
        """Open the transport if it is not open yet; raise UnreachableError if that fails."""
        with self._lock:
            if self._dead:
                raise UnreachableError(self._dead)
            if self._fabric is not None:
                if self._fabric.is_connected:
                    return
                # It died while idle (keepalive): unreachable for the run, as if mid-command.
                raise self._mark_dead("connection lost")
            conn = self._build()
            try:
                conn.open()
            except HostKeyError:
                conn.close()
                raise
            except paramiko.BadHostKeyException as exc:
                conn.close()
                paths = self._known_hosts_paths()
                raise bad_host_key_error(
                    self.host, exc.hostname, self.port or 22, exc, paths
                ) from None
            except Exception as exc:
                conn.close()
                # Unreachable for the rest of the run: no second wait on a dead host.
                self._dead = f"{self.where}: {describe_failure(exc, self)}"
                raise UnreachableError(self._dead) from None
            for hop in _chain(conn):
                _bound_transport(hop.client.get_transport(), self.options)
            self._fabric = conn

    def _known_hosts_paths(self) -> list[Path]:
        return [self.options.user_known_hosts or user_known_hosts(), *self.extra_known_hosts]

    def _build(self) -> fabric.Connection:
        kwargs: dict[str, Any] = {
            "banner_timeout": self.options.connect_timeout,
            "auth_timeout": self.options.connect_timeout,
            "channel_timeout": self.options.connect_timeout,
        }
        if self.key_filename:
            kwargs["key_filename"] = list(self.key_filename)
        gateway: fabric.Connection | str | None = None
        for hop in (self.jump or "").split(","):
            if hop.strip():
                gateway = self._connection(hop.strip(), None, None, dict(kwargs), gateway)
        if self.proxy_command and gateway is None:
            gateway = self.proxy_command
        conn = self._connection(self.hostname, self.port, self.user, kwargs, gateway)
        if self.port is None:
            self.port = int(conn.port)
        if self.user is None:
            self.user = conn.user
        for hop in _chain(conn):
            secure_client(
                hop.client,
                host=self.host,
                hostname=hop.host,
                port=int(hop.port),
                extra_files=self.extra_known_hosts,
                accept_new=self.options.accept_new_host_keys,
                user_file=self.options.user_known_hosts,
            )
        return conn

    def _connection(
        self,
        host: str,
        port: int | None,
        user: str | None,
        connect_kwargs: dict[str, Any],
        gateway: fabric.Connection | str | None,
    ) -> fabric.Connection:
        return fabric.Connection(
            host,
            user=user,
            port=port,
            connect_timeout=max(1, round(self.options.connect_timeout)),
            connect_kwargs=connect_kwargs,
            # None lets Fabric take a ProxyJump/ProxyCommand from ~/.ssh/config.
            gateway=gateway,
        )

    def _transport(self) -> paramiko.Transport:
        self.open()
        assert self._fabric is not None
        transport = self._fabric.client.get_transport()
        if transport is None or not transport.is_active():
            raise self._mark_dead("connection lost")
        return transport

    def _mark_dead(self, why: str) -> UnreachableError:
        """From now on the host is unreachable for this run (until close())."""
        self._dead = f"{self.where}: {why}"
        self._close_quietly()
        return UnreachableError(self._dead)

    def close(self) -> None:
        with self._lock:
            self._dead = None
            self._close_quietly()

    def _close_quietly(self) -> None:
        conn, sftp = self._fabric, self._sftp
        self._fabric, self._sftp = None, None
        for closer in ([sftp.close] if sftp else []) + [h.close for h in _chain(conn)]:
            with contextlib.suppress(Exception):  # a dead transport fails to close in many ways
                closer()

    # -- commands -----------------------------------------------------------

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
        transport = self._transport()
        if become and self.user == "root" and become_user in (None, "root"):
            become = False
        try:
            remote = remote_command(
                command, env=env, cwd=cwd, become=become, become_user=become_user
            )
        except ValueError as exc:
            raise HostError(f"{self.host}: {exc}") from None
        started = time.monotonic()
        try:
            out, err, code = run_on_channel(
                transport,
                remote,
                stdin=stdin,
                timeout=timeout,
                wait_s=self.options.connect_timeout,
                become=become,
            )
        except ChannelTimeout:
            raise CommandTimeout(
                f"{self.host}: command timed out after {timeout:g}s and was stopped: {command}"
            ) from None
        except ChannelRefused as exc:
            raise HostError(f"{self.where}: the host refused an SSH channel: {exc}") from None
        except ChannelLost as exc:
            raise self._mark_dead(str(exc)) from None
        return CommandResult(
            command=command,
            exit_code=code,
            stdout=out.decode("utf-8", "replace"),
            stderr=err.decode("utf-8", "replace"),
            duration_s=time.monotonic() - started,
        )

    # -- files --------------------------------------------------------------

    def _sftp_client(self) -> paramiko.SFTPClient:
        transport = self._transport()
        if self._sftp is None:
            try:
                self._sftp = paramiko.SFTPClient.from_transport(transport)
            except Exception as exc:
                raise self._mark_dead(
                    f"connection lost (no answer to an SFTP channel: {exc})"
                ) from None
            assert self._sftp is not None
            self._sftp.get_channel().settimeout(self.options.dead_after_s)
        return self._sftp

    def put(self, src: Path | bytes, dest: str, *, mode: int | None = None) -> None:
        """Write beside `dest` over SFTP and rename, so a reader never sees half a file."""
        data = src if isinstance(src, bytes) else Path(src).read_bytes()
        sftp = self._sftp_client()
        directory, _, name = dest.rpartition("/")
        tmp = f"{directory}/.{name}.dpl-{uuid.uuid4().hex[:8]}"
        try:
            if mode is None:
                with contextlib.suppress(FileNotFoundError):
                    mode = (sftp.stat(dest).st_mode or 0) & 0o7777 or None
            with sftp.open(tmp, "wb") as handle:
                handle.set_pipelined(True)
                handle.write(data)
            if mode is not None:
                sftp.chmod(tmp, mode)
            sftp.posix_rename(tmp, dest)
        except Exception as exc:
            failure = self._file_failure(exc, dest)
            if failure is None:
                _remove_quietly(sftp, tmp)
                raise
            raise failure from None

    def get(self, src: str) -> bytes:
        sftp = self._sftp_client()
        try:
            with sftp.open(src, "rb") as handle:
                handle.prefetch()
                return handle.read()
        except Exception as exc:
            failure = self._file_failure(exc, src)
            if failure is None:
                raise
            raise failure from None

    def _file_failure(self, exc: Exception, path: str) -> HostError | None:
        """The error for a failed transfer; None for a plain OSError (no such file, denied)."""
        transport = self._fabric.client.get_transport() if self._fabric else None
        if transport is None or not transport.is_active() or isinstance(exc, TimeoutError):
            return self._mark_dead(f"connection lost while transferring {path}")
        if isinstance(exc, OSError):
            return None
        return HostError(f"{self.where}: SFTP failed on {path}: {exc}")


def _env_seconds(name: str, default: float) -> float:
    try:
        return max(1.0, float(os.environ[name]))
    except (KeyError, ValueError):
        return default


def _chain(conn: fabric.Connection | None) -> list[fabric.Connection]:
    """The connection and its gateway connections, outermost first."""
    hops: list[fabric.Connection] = []
    while isinstance(conn, fabric.Connection):
        hops.append(conn)
        conn = conn.gateway
    return hops


def _bound_transport(transport: paramiko.Transport | None, options: SSHOptions) -> None:
    """Keepalives plus TCP_USER_TIMEOUT: a silent host kills the socket instead of hanging."""
    if transport is None:
        return
    transport.set_keepalive(max(1, round(options.keepalive_s)))
    sock = transport.sock
    if not isinstance(sock, socket.socket):
        return  # a ProxyCommand pipe or a channel through a jump host: bounded by that hop
    # Without NODELAY, Nagle plus delayed ACKs add ~40 ms to every small command.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if hasattr(socket, "TCP_USER_TIMEOUT"):
        sock.setsockopt(
            socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(options.dead_after_s * 1000)
        )


def _remove_quietly(sftp: paramiko.SFTPClient, path: str) -> None:
    with contextlib.suppress(Exception):  # it may never have been created
        sftp.remove(path)


def _proxy_from_args(args: str) -> tuple[str | None, str | None]:
    """ProxyJump (`-J x`, `-o ProxyJump=x`) or ProxyCommand from ansible_ssh_common_args."""
    try:
        words = shlex.split(args)
    except ValueError:
        return None, None
    jump = command = None
    for i, word in enumerate(words):
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if word == "-J":
            jump = nxt
        option = nxt if word == "-o" else word[2:] if word.startswith("-o") else ""
        key, _, value = option.replace("=", " ", 1).partition(" ")
        if key.lower() == "proxyjump":
            jump = value.strip()
        elif key.lower() == "proxycommand":
            command = value.strip()
    return jump, command


def describe_failure(exc: BaseException, conn: SSHConnection) -> str:
    """One line that says why a connection failed and what to check."""
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        codes = {getattr(e, "errno", None) for e in exc.errors.values()}
        if codes == {errno.ECONNREFUSED}:
            return "connection refused — is sshd running?"
        exc = next(iter(exc.errors.values()), exc)
    if isinstance(exc, socket.gaierror):
        return f"name not resolved ({exc.strerror}) — check host/ansible_host"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused — is sshd running?"
    if isinstance(exc, TimeoutError | socket.timeout):
        return (
            f"timed out after {conn.options.connect_timeout:g}s — is the host up and the port open?"
        )
    if isinstance(exc, OSError) and exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return "no route to host — is the host up?"
    if isinstance(exc, paramiko.AuthenticationException):
        return f"authentication refused for user {conn.user!r} — check ssh_key, ssh-agent or ~/.ssh"
    if isinstance(exc, EOFError):
        return "the connection was closed during the handshake"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"SSH failed: {text}"
