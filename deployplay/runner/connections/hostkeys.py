"""Host key checking for SSH connections, as strict as OpenSSH's defaults.

Keys are checked against the user's known_hosts plus any extra files (one the
inventory names with the `known_hosts` host var, one from `--known-hosts`).
An unknown host is refused unless accept-new is on (then its key is recorded,
like StrictHostKeyChecking=accept-new); a changed key is always refused, with
the fingerprint and the file:line to fix.

Fabric installs paramiko's AutoAddPolicy, which silently trusts any key:
`secure_client` replaces it. paramiko itself matches hashed entries
(`|1|salt|hash`) and `[host]:port` names; this module re-reads the files only
to name the line in an error and to spot a host known under another key type.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import paramiko
from paramiko.hostkeys import HostKeyEntry, HostKeys, InvalidHostKey

from deployplay.errors import HostKeyError

# Appends from parallel connection threads must not interleave.
_RECORD_LOCK = threading.Lock()


def user_known_hosts() -> Path:
    """The user's own known_hosts, as OpenSSH reads it."""
    return Path(os.path.expanduser("~/.ssh/known_hosts"))


def known_hosts_name(hostname: str, port: int) -> str:
    """How OpenSSH names a host in known_hosts: `host` on port 22, `[host]:port` otherwise."""
    return hostname if int(port) == 22 else f"[{hostname}]:{port}"


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's SHA256 fingerprint of a key, e.g. `SHA256:nThbg6kXUpJWGl7E1IG...`."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


@dataclass(frozen=True, slots=True)
class KnownKey:
    """One known_hosts line that names a host."""

    path: Path
    line: int
    key: paramiko.PKey

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def _entry_matches(entry_name: str, name: str) -> bool:
    if entry_name.startswith("|1|"):
        return HostKeys.hash_host(name, entry_name) == entry_name
    return entry_name == name


def find_known_keys(paths: list[Path], hostname: str, port: int) -> list[KnownKey]:
    """Every line in `paths` that names this host (hashed or not), in file order."""
    name = known_hosts_name(hostname, port)
    found: list[KnownKey] = []
    for path in paths:
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for number, raw in enumerate(lines, start=1):
            line = raw.strip()
            # Markers (@cert-authority, @revoked) and comments are not plain host keys.
            if not line or line.startswith(("#", "@")):
                continue
            try:
                entry = HostKeyEntry.from_line(line, number)
            except (InvalidHostKey, ValueError):
                continue
            if entry is None or entry.key is None:
                continue
            if any(_entry_matches(n, name) for n in entry.hostnames):
                found.append(KnownKey(path, number, entry.key))
    return found


class HostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """Called by paramiko when no known key of the offered type names the host.

    With keys of another type already known, the host's identity changed (or
    it stopped offering that type): refuse, as OpenSSH does. Otherwise refuse
    an unknown host, unless accept-new is on: then record the key.
    """

    def __init__(
        self,
        host: str,
        port: int,
        paths: list[Path],
        record_to: Path,
        accept_new: bool,
    ) -> None:
        self.host = host
        self.port = port
        self.paths = paths
        self.record_to = record_to
        self.accept_new = accept_new

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        known = find_known_keys(self.paths, hostname, self.port)
        if known:
            raise changed_key_error(self.host, hostname, self.port, key, known)
        if not self.accept_new:
            raise HostKeyError(
                f"{self.host} ({hostname}:{self.port}): unknown host key {key.get_name()} "
                f"{fingerprint(key)}, not in {', '.join(str(p) for p in self.paths)}",
                hint="check the fingerprint, then run with --accept-new-host-keys to record it",
            )
        record_key(self.record_to, hostname, self.port, key)
        client.get_host_keys().add(known_hosts_name(hostname, self.port), key.get_name(), key)


def changed_key_error(
    host: str, hostname: str, port: int, key: paramiko.PKey, known: list[KnownKey]
) -> HostKeyError:
    """The refusal for a host whose key differs from the recorded one."""
    same_type = [k for k in known if k.key.get_name() == key.get_name()]
    culprit = (same_type or known)[0]
    name = known_hosts_name(hostname, port)
    return HostKeyError(
        f"{host} ({hostname}:{port}): HOST KEY CHANGED: it offers {key.get_name()} "
        f"{fingerprint(key)}, but {culprit.where} records {culprit.key.get_name()} "
        f"{fingerprint(culprit.key)}",
        hint=(
            f"if the host was really reinstalled, remove line {culprit.line} of "
            f"{culprit.path} (ssh-keygen -R '{name}' -f {culprit.path}) and run again"
        ),
    )


def record_key(path: Path, hostname: str, port: int, key: paramiko.PKey) -> None:
    """Append the host's key to a known_hosts file, creating it (and ~/.ssh) if needed."""
    line = f"{known_hosts_name(hostname, port)} {key.get_name()} {key.get_base64()}\n"
    with _RECORD_LOCK:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Start on a fresh line if someone left the file without a final newline.
        needs_newline = path.exists() and path.stat().st_size > 0 and not _ends_with_newline(path)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(("\n" if needs_newline else "") + line)


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def secure_client(
    client: paramiko.SSHClient,
    *,
    host: str,
    hostname: str,
    port: int,
    extra_files: list[Path],
    accept_new: bool,
    user_file: Path | None = None,
) -> None:
    """Replace Fabric's AutoAddPolicy on `client` and load every known_hosts file into it.

    Loading them as "system" keys makes paramiko prefer the key type already
    known for the host and raise BadHostKeyException on a mismatch of that type.
    """
    user_path = user_file if user_file is not None else user_known_hosts()
    paths = [user_path, *[p for p in extra_files if p != user_path]]
    for path in paths:
        if path.is_file():
            try:
                client.load_system_host_keys(str(path))
            except (OSError, InvalidHostKey) as exc:
                raise HostKeyError(
                    f"{host}: cannot read known_hosts file {path}: {exc}",
                    hint="fix or remove the broken line",
                ) from None
    # Record into the file the user named for this host, else into their own.
    record_to = extra_files[0] if extra_files else user_path
    client.set_missing_host_key_policy(HostKeyPolicy(host, port, paths, record_to, accept_new))


def bad_host_key_error(
    host: str, hostname: str, port: int, exc: paramiko.BadHostKeyException, paths: list[Path]
) -> HostKeyError:
    """Turn paramiko's BadHostKeyException into our one-line refusal naming the file:line."""
    known = find_known_keys(paths, hostname, port)
    if known:
        return changed_key_error(host, hostname, port, exc.key, known)
    return HostKeyError(
        f"{host} ({hostname}:{port}): HOST KEY CHANGED: it offers {exc.key.get_name()} "
        f"{fingerprint(exc.key)}, expected {fingerprint(exc.expected_key)}",
        hint="if the host was really reinstalled, remove its old key from known_hosts",
    )
