"""The lab itself: isolated hosts, a prompt reaper, and no leftovers after a crashed run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from lab import lab_unavailable
from lab.lab import PREFIX, STATE_ROOT

TESTS_DIR = Path(__file__).resolve().parents[1]


def _names() -> str:
    return (
        subprocess.run(
            ["ip", "-o", "link", "show"], capture_output=True, text=True, timeout=10
        ).stdout
        + subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10).stdout
    )


@pytest.mark.lab
def test_hosts_are_isolated(lab_fleet):
    names = {
        n: lab_fleet.exec(n, "hostname; ls -A /root | wc -l").stdout.split()
        for n in lab_fleet.hosts
    }
    assert names == {n: [n, "0"] for n in lab_fleet.hosts}  # own hostname, fresh /root
    assert lab_fleet.exec("web1", "cat /proc/1/cmdline").stdout.count("labinit.py") == 1
    assert len(lab_fleet.bridge) <= 15 and all(len(h.veth) <= 15 for h in lab_fleet.hosts.values())
    assert lab_fleet.subnet is not None and str(lab_fleet.subnet).startswith("10.")


@pytest.mark.lab
def test_orphans_are_reaped_at_once(lab_fleet):
    conn = lab_fleet.connection("web1")
    try:
        # A daemon whose parent exits (an orphan), then "stop the old service, wait until gone".
        pid = conn.run("sh -c 'sleep 60 >/dev/null 2>&1 & echo $!'").stdout.strip()
        started = time.monotonic()
        result = conn.run(
            f"kill {pid}; i=0; while kill -0 {pid} 2>/dev/null && [ $i -lt 100 ]; do "
            "sleep 0.01; i=$((i+1)); done; echo $i"
        )
        assert time.monotonic() - started < 0.5
        assert int(result.stdout) < 20  # gone within ~0.2 s, not the machine's ~1.5 s
    finally:
        conn.close()


@pytest.mark.lab
def test_sshd_stop_and_start(fresh_lab):
    lab = fresh_lab(1)
    lab.stop_sshd("web1")
    # The port probes' short-lived pre-auth children may take a moment to go too.
    gone = "i=0; while pgrep -x sshd >/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done"
    lab.exec("web1", gone)
    assert lab.exec("web1", "pgrep -x sshd").returncode != 0
    lab.start_sshd("web1")
    conn = lab.connection("web1")
    assert conn.run("hostname").stdout == "web1\n"
    conn.close()


@pytest.mark.lab
def test_leftovers_of_a_crashed_run_are_cleared():
    if lab_unavailable():
        pytest.skip(lab_unavailable())
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(TESTS_DIR)!r})
        from lab import Lab
        lab = Lab.of(2).start()
        print(lab.lab_id, flush=True)
        time.sleep(60)
        """
    )
    crashed = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        lab_id = crashed.stdout.readline().strip()  # type: ignore[union-attr]
        assert lab_id and f"{PREFIX}{lab_id}-" in _names()
    finally:
        crashed.send_signal(signal.SIGKILL)  # no teardown, no atexit: a crash
        crashed.wait(timeout=10)
    from lab import Lab

    fresh = Lab.of(1).start()  # clears what the dead owner left
    try:
        assert f"{PREFIX}{lab_id}-" not in _names()
        assert not (STATE_ROOT / lab_id).exists()
        leftover = subprocess.run(
            ["pgrep", "-f", f"/{lab_id}/"], capture_output=True, text=True, timeout=10
        ).stdout.split()
        assert [p for p in leftover if int(p) != os.getpid()] == []  # its sshds died with it
    finally:
        fresh.stop()


def test_lab_is_skipped_with_a_reason_when_not_root(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert lab_unavailable() == "the SSH lab needs root (network namespaces)"
