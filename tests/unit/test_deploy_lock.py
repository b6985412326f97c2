"""lock: atomic mkdir, held until the run ends, stale locks broken only when asked."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from test_deploy_support import make_ctx, run_module

from deployplay.modules.lock import Lock
from deployplay.runner.connections.local import LocalConnection
from deployplay.runner.context import RunState
from deployplay.runner.ledger import Ledger


def lock_dir(root: Path) -> Path:
    return root / ".deployplay" / "lock"


def plant_lock(root: Path, *, age_s: float, **info: object) -> None:
    """A lock left by another run, `age_s` seconds old."""
    lock_dir(root).mkdir(parents=True)
    record = {"run_id": "other", "owner": "alice", "controller": "elsewhere", "pid": 1, **info}
    (lock_dir(root) / "info").write_text(json.dumps(record) + "\n")
    old = time.time() - age_s
    os.utime(lock_dir(root), (old, old))


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait(timeout=10)
    return proc.pid


def test_take_hold_and_release_at_end(tmp_path: Path) -> None:
    state = RunState()
    ctx = make_ctx(tmp_path, run_state=state)
    result = run_module(Lock, ctx, path=str(tmp_path), message="release 1.2.0")
    # Held for the run only, so the host ends as it was: ok, not changed.
    assert not result.changed and not result.failed, result.msg
    assert result.msg.startswith("locked ")
    info = json.loads((lock_dir(tmp_path) / "info").read_text())
    assert info["run_id"] == state.run_id and info["owner"] == state.user
    assert info["pid"] == os.getpid() and info["message"] == "release 1.2.0" and info["time"]

    again = run_module(Lock, make_ctx(tmp_path, run_state=state), path=str(tmp_path))
    assert not again.changed and not again.failed and "already holds" in again.msg

    cleanups = state.take_cleanups()
    assert len(cleanups) == 1
    host, description, action = cleanups[0]
    assert host == "web1" and "release the lock" in description
    action()
    assert not lock_dir(tmp_path).exists()


def test_live_lock_of_another_run_is_refused_with_owner_and_age(tmp_path: Path) -> None:
    state = RunState()
    plant_lock(tmp_path, age_s=7200, controller=state.controller, pid=os.getpid(), message="hotfix")
    result = run_module(
        Lock, make_ctx(tmp_path, run_state=state), path=str(tmp_path), break_stale=True, ttl=60
    )
    assert result.failed
    assert "locked by alice@" in result.msg and "run other" in result.msg
    assert "2h00m" in result.msg and "hotfix" in result.msg and "still alive" in result.msg
    assert json.loads((lock_dir(tmp_path) / "info").read_text())["run_id"] == "other"
    assert state.take_cleanups() == []


def test_young_lock_is_refused_even_with_break_stale(tmp_path: Path) -> None:
    plant_lock(tmp_path, age_s=30)
    result = run_module(Lock, make_ctx(tmp_path), path=str(tmp_path), break_stale=True, ttl=600)
    assert result.failed and "wait for it" in result.msg and "30s" in result.msg


def test_stale_lock_needs_break_stale_and_is_recorded(tmp_path: Path) -> None:
    state = RunState()
    plant_lock(tmp_path, age_s=7200, controller=state.controller, pid=dead_pid())
    refused = run_module(Lock, make_ctx(tmp_path, run_state=state), path=str(tmp_path), ttl=3600)
    assert refused.failed and "break_stale: true" in refused.msg

    taken = run_module(
        Lock, make_ctx(tmp_path, run_state=state), path=str(tmp_path), ttl=3600, break_stale=True
    )
    assert taken.changed and not taken.failed and "broke the stale lock of alice@" in taken.msg
    assert "2h00m old" in taken.msg
    assert json.loads((lock_dir(tmp_path) / "info").read_text())["run_id"] == state.run_id
    events = Ledger(LocalConnection(), str(tmp_path)).events()
    assert [e["event"] for e in events] == ["lock_broken"]
    assert events[0]["stale_run_id"] == "other" and events[0]["run_id"] == state.run_id


def test_release_never_removes_another_runs_lock(tmp_path: Path) -> None:
    plant_lock(tmp_path, age_s=5)
    ledger = Ledger(LocalConnection(), str(tmp_path))
    assert ledger.release_lock("mine") is False
    assert lock_dir(tmp_path).exists()
    result = run_module(Lock, make_ctx(tmp_path), path=str(tmp_path), state="absent")
    assert not result.changed and lock_dir(tmp_path).exists()


def test_state_absent_releases_this_runs_lock(tmp_path: Path) -> None:
    state = RunState()
    run_module(Lock, make_ctx(tmp_path, run_state=state), path=str(tmp_path))
    result = run_module(
        Lock, make_ctx(tmp_path, run_state=state), path=str(tmp_path), state="absent"
    )
    assert result.changed and not lock_dir(tmp_path).exists()


def test_check_mode_takes_nothing(tmp_path: Path) -> None:
    result = run_module(Lock, make_ctx(tmp_path, check=True), path=str(tmp_path / "srv"))
    assert not result.changed and result.msg.startswith("would take")
    assert not (tmp_path / "srv").exists()


def test_check_mode_reports_a_held_lock_without_touching_it(tmp_path: Path) -> None:
    plant_lock(tmp_path, age_s=90, message="hotfix")
    before = (lock_dir(tmp_path) / "info").read_text()
    result = run_module(Lock, make_ctx(tmp_path, check=True), path=str(tmp_path))
    assert result.failed and "locked by alice@elsewhere" in result.msg and "1m30s" in result.msg
    assert (lock_dir(tmp_path) / "info").read_text() == before
