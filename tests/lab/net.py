"""Plumbing of the lab: local tools, host processes, lab ids and owners, stale clean-up, subnets.

Everything a lab creates is named `dpl-<lab id>-...`; `<root>/<lab id>/owner`
holds the owning process's pid and start time. A lab whose owner is gone
(a crashed or killed run) is removed by the next lab that starts.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import ipaddress
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

PREFIX = "dpl-"
WAIT_S = 15.0


def sh(
    *argv: str, check: bool = True, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a local tool with a bounded wait; raise with its stderr when it fails."""
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {proc.returncode}: {proc.stderr.strip()}")
    return proc


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def owner_mark(pid: int) -> str:
    """pid plus its start time, so a recycled pid does not look like a live owner."""
    try:
        start = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        start = "?"
    return f"{pid} {start}"


def _alive(root: Path, lab_id: str) -> bool:
    try:
        mark = (root / lab_id / "owner").read_text().strip()
    except OSError:
        return False
    return owner_mark(int(mark.split()[0])) == mark


def new_id(root: Path) -> str:
    taken = _lab_ids()
    for _ in range(100):
        lab_id = f"{random.randrange(16**4):04x}"
        if lab_id not in taken and not (root / lab_id).exists():
            return lab_id
    raise RuntimeError("no free lab id")


def _lab_ids() -> set[str]:
    names = sh("ip", "netns", "list").stdout.split() + [
        line.split(":")[1].strip().split("@")[0]
        for line in sh("ip", "-o", "link", "show").stdout.splitlines()
    ]
    return {n.split("-")[1] for n in names if n.startswith(PREFIX) and n.count("-") >= 2}


def clear_stale(root: Path) -> None:
    """Remove the namespaces, links and files of labs whose owner process is gone."""
    ids = _lab_ids() | {p.name for p in root.iterdir() if p.is_dir()}
    for lab_id in ids:
        if not _alive(root, lab_id):
            remove_lab(root, lab_id)


def remove_lab(root: Path, lab_id: str) -> None:
    mine = f"{PREFIX}{lab_id}-"
    for ns in sh("ip", "netns", "list").stdout.split():
        if ns.startswith(mine):
            # Only processes inside our own namespace: they were started by this lab.
            for pid in sh("ip", "netns", "pids", ns, check=False).stdout.split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            sh("ip", "netns", "del", ns, check=False)
    for line in sh("ip", "-o", "link", "show").stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name.startswith(mine):
            sh("ip", "link", "del", name, check=False)
    shutil.rmtree(root / lab_id, ignore_errors=True)


def free_subnet() -> ipaddress.IPv4Network:
    """A 10.x.y.0/24 that overlaps no route or address on this machine."""
    used = []
    out = (
        sh("ip", "-4", "route", "show", "table", "all").stdout + sh("ip", "-4", "-o", "addr").stdout
    )
    for word in out.split():
        with contextlib.suppress(ValueError):
            used.append(ipaddress.ip_network(word, strict=False))
    for _ in range(500):
        net = ipaddress.ip_network(f"10.{random.randrange(100, 250)}.{random.randrange(256)}.0/24")
        if not any(net.overlaps(u) for u in used if u.prefixlen > 0):
            return net
    raise RuntimeError("no free 10.x.y.0/24 subnet")


def init_python() -> str:
    """The system's python3 (outside /root, which the hosts get a fresh copy of), else ours."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.access(candidate, os.X_OK):
            return os.path.realpath(candidate)
    return os.path.realpath(sys.executable)


def die_with_parent() -> None:
    """PR_SET_PDEATHSIG: if the test run dies hard, its lab hosts die with it."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)


def child_of(pid: int, timeout: float = WAIT_S) -> int:
    """The first child of `pid` (unshare's forked child: the host's init)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            if children:
                return int(children[0])
        time.sleep(0.01)
    raise RuntimeError(f"lab host process {pid} started no init")


def port_open(address: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((address, port)) == 0
