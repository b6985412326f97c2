"""rollback: undo this run's switch, never another run's; ledger target only when asked."""

from __future__ import annotations

import os
from pathlib import Path

from test_deploy_push import current, make_src, tree
from test_deploy_support import free_port, make_ctx, run_module

from deployplay.modules.push import Push
from deployplay.modules.rollback import Rollback
from deployplay.runner.connections.local import LocalConnection
from deployplay.runner.context import RunState
from deployplay.runner.ledger import Ledger


def deploy(tmp_path: Path, root: Path, version: str, state: RunState | None = None) -> None:
    src = make_src(tmp_path / f"src-{version}", version, version)
    result = run_module(Push, make_ctx(tmp_path, run_state=state), path=str(root), src=str(src))
    assert result.changed, result.msg


def test_rolls_back_this_runs_switch_and_marks_it_bad(tmp_path: Path) -> None:
    root, state = tmp_path / "srv", RunState()
    deploy(tmp_path, root, "1.0.0")
    deploy(tmp_path, root, "1.1.0", state)
    result = run_module(
        Rollback, make_ctx(tmp_path, run_state=state), path=str(root), restart="touch ../../r"
    )
    assert result.changed and not result.failed, result.msg
    assert "from 1.1.0 to 1.0.0" in result.msg
    assert current(root) == "1.0.0" and (root / "r").exists()
    view = Ledger(LocalConnection(), str(root)).read()
    assert [e["event"] for e in view.events][-2:] == ["rollback", "bad"]
    assert view.bad == {"1.1.0"}
    assert view.last("rollback")["run_id"] == state.run_id  # type: ignore[index]

    again = run_module(Rollback, make_ctx(tmp_path, run_state=state), path=str(root))
    assert not again.changed and not again.failed and "already back" in again.msg


def test_nothing_switched_in_this_run_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "srv"
    deploy(tmp_path, root, "1.0.0")
    deploy(tmp_path, root, "1.1.0")  # another run's deploy
    before = tree(root)
    result = run_module(Rollback, make_ctx(tmp_path, run_state=RunState()), path=str(root))
    assert not result.changed and not result.failed
    assert "switched nothing" in result.msg
    assert tree(root) == before


def test_a_host_moved_by_another_run_is_left_alone(tmp_path: Path) -> None:
    root, state = tmp_path / "srv", RunState()
    deploy(tmp_path, root, "1.0.0")
    deploy(tmp_path, root, "1.1.0", state)
    deploy(tmp_path, root, "1.2.0")  # someone else, since
    result = run_module(Rollback, make_ctx(tmp_path, run_state=state), path=str(root))
    assert not result.changed and not result.failed and "left alone" in result.msg
    assert current(root) == "1.2.0"


def test_first_release_has_nothing_to_go_back_to(tmp_path: Path) -> None:
    root, state = tmp_path / "srv", RunState()
    deploy(tmp_path, root, "1.0.0", state)
    result = run_module(Rollback, make_ctx(tmp_path, run_state=state), path=str(root))
    assert result.failed and "first release" in result.msg
    assert current(root) == "1.0.0"


def test_from_ledger_takes_the_previous_release(tmp_path: Path) -> None:
    root = tmp_path / "srv"
    deploy(tmp_path, root, "1.0.0")
    deploy(tmp_path, root, "1.1.0")
    result = run_module(Rollback, make_ctx(tmp_path), path=str(root), from_ledger=True)
    assert result.changed and current(root) == "1.0.0", result.msg
    # 1.1.0 is bad now, 1.0.0 is current: nothing left to go back to.
    nothing = run_module(Rollback, make_ctx(tmp_path), path=str(root), from_ledger=True)
    assert nothing.failed and "nothing to roll back to" in nothing.msg


def test_to_a_named_release(tmp_path: Path) -> None:
    root = tmp_path / "srv"
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        deploy(tmp_path, root, version)
    result = run_module(Rollback, make_ctx(tmp_path), path=str(root), to="v1.0.0")
    assert result.changed and current(root) == "1.0.0"
    gone = run_module(Rollback, make_ctx(tmp_path), path=str(root), to="0.1.0")
    assert gone.failed and "is gone" in gone.msg


def test_check_mode_only_says_what_it_would_do(tmp_path: Path) -> None:
    root = tmp_path / "srv"
    deploy(tmp_path, root, "1.0.0")
    deploy(tmp_path, root, "1.1.0")
    before = tree(root)
    result = run_module(Rollback, make_ctx(tmp_path, check=True), path=str(root), from_ledger=True)
    assert result.changed and "would roll back from 1.1.0 to 1.0.0" in result.msg
    assert tree(root) == before


def test_failed_verification_is_a_failure_after_the_switch(tmp_path: Path) -> None:
    root = tmp_path / "srv"
    deploy(tmp_path, root, "1.0.0")
    deploy(tmp_path, root, "1.1.0")
    result = run_module(
        Rollback,
        make_ctx(tmp_path),
        path=str(root),
        to="1.0.0",
        verify_url=f"http://127.0.0.1:{free_port()}/health",
        verify_retries=1,
        verify_delay=0.1,
    )
    assert result.failed and result.changed and "did not answer" in result.msg
    assert os.readlink(root / "current").endswith("1.0.0")


def test_two_pushes_in_one_run_roll_back_to_where_the_run_started(tmp_path: Path) -> None:
    root, state = tmp_path / "srv", RunState()
    deploy(tmp_path, root, "1.0.0")
    deploy(tmp_path, root, "1.1.0", state)
    deploy(tmp_path, root, "1.2.0", state)
    result = run_module(Rollback, make_ctx(tmp_path, run_state=state), path=str(root))
    assert result.changed and "from 1.2.0 to 1.0.0" in result.msg
    assert current(root) == "1.0.0"
