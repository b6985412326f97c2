"""The on-host ledger: one line per event, torn lines skipped, the views computed from it."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from deployplay.errors import HostError
from deployplay.runner.connections.local import LocalConnection
from deployplay.runner.context import RunState
from deployplay.runner.ledger import Ledger, LedgerView, make_event, parse_events
from deployplay.runner.results import CommandResult


class Recorder:
    """A run(command) callable on this machine that remembers each command."""

    def __init__(self) -> None:
        self.commands: list[str] = []
        self.connection = LocalConnection()

    def __call__(self, command: str) -> CommandResult:
        self.commands.append(command)
        return self.connection.run(command)


def test_append_writes_one_json_line_per_event_in_one_command(tmp_path: Path) -> None:
    run = Recorder()
    ledger = Ledger(run, str(tmp_path))
    state = RunState()
    ledger.append("deploy", state, version="1.0.0", commit="abc", release="/x")
    ledger.append("verified", state, version="1.0.0")
    assert len(run.commands) == 2
    lines = (tmp_path / ".deployplay" / "history.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    assert first["event"] == "deploy"
    assert first["run_id"] == state.run_id
    assert first["user"] == state.user and first["controller"] == state.controller
    assert first["version"] == "1.0.0" and first["commit"] == "abc" and first["time"]
    assert [e["event"] for e in ledger.events()] == ["deploy", "verified"]


def test_a_connection_works_as_well_as_a_callable(tmp_path: Path) -> None:
    ledger = Ledger(LocalConnection(), str(tmp_path))
    ledger.append("bad", version="0.9.0")
    assert ledger.bad() == {"0.9.0"}


def test_odd_characters_survive_the_shell(tmp_path: Path) -> None:
    ledger = Ledger(LocalConnection(), str(tmp_path / "with space"))
    text = 'it\'s "quoted" $HOME `x` \n newline ✓'
    ledger.append("failed", reason=text)
    assert ledger.events()[0]["reason"] == text


def test_torn_last_line_is_skipped(tmp_path: Path) -> None:
    ledger = Ledger(LocalConnection(), str(tmp_path))
    ledger.append("deploy", version="1.0.0")
    with open(tmp_path / ".deployplay" / "history.jsonl", "a") as handle:
        handle.write('{"event": "deploy", "version": "1.1')
    assert [e["version"] for e in ledger.events()] == ["1.0.0"]
    assert parse_events('garbage\n{"event": "bad", "version": "1"}\n[1]\n{"no": 1}\n') == [
        {"event": "bad", "version": "1"}
    ]


def test_parallel_appends_never_interleave(tmp_path: Path) -> None:
    ledger = Ledger(LocalConnection(), str(tmp_path))

    def write(n: int) -> None:
        for i in range(10):
            ledger.append("verified", version=f"{n}.{i}.0", padding="x" * 300)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    lines = (tmp_path / ".deployplay" / "history.jsonl").read_text().splitlines()
    assert len(lines) == 40
    assert all(json.loads(line)["event"] == "verified" for line in lines)


def test_read_gives_current_releases_and_history_in_one_command(tmp_path: Path) -> None:
    for name in ("1.0.0", "1.1.0", ".incoming.x"):
        (tmp_path / "releases" / name).mkdir(parents=True)
    (tmp_path / "current").symlink_to(tmp_path / "releases" / "1.1.0")
    run = Recorder()
    ledger = Ledger(run, str(tmp_path))
    ledger.append("deploy", version="1.0.0")
    ledger.append("deploy", version="1.1.0")
    run.commands.clear()
    view = ledger.read()
    assert len(run.commands) == 1
    assert view.current == "1.1.0"
    assert view.releases == ["1.0.0", "1.1.0"]
    assert view.previous == "1.0.0"
    assert ledger.current_release() == "1.1.0"


def test_empty_root_reads_as_nothing_deployed(tmp_path: Path) -> None:
    view = Ledger(LocalConnection(), str(tmp_path / "none")).read()
    assert view.current is None and view.releases == [] and view.events == []
    assert view.previous is None and view.verified == set() and view.bad == set()


def view_of(*events: tuple[str, str, dict]) -> LedgerView:
    records = [make_event(event, version=version, **extra) for event, version, extra in events]
    current = next(
        (r["version"] for r in reversed(records) if r["event"] in ("deploy", "rollback")), None
    )
    return LedgerView(records, current_target=f"/srv/releases/{current}" if current else None)


def test_previous_skips_bad_releases_and_the_current_one() -> None:
    view = view_of(
        ("deploy", "1.0.0", {}),
        ("deploy", "1.1.0", {}),
        ("deploy", "1.2.0", {}),
        ("rollback", "1.1.0", {}),
        ("bad", "1.2.0", {}),
    )
    assert view.current == "1.1.0"
    assert view.previous == "1.0.0"
    assert view.bad == {"1.2.0"}


def test_forced_deploy_clears_bad_and_verified_is_tracked() -> None:
    view = view_of(
        ("deploy", "1.0.0", {}),
        ("verified", "1.0.0", {}),
        ("deploy", "1.1.0", {}),
        ("verified", "1.1.0", {}),
        ("bad", "1.1.0", {}),
        ("rollback", "1.0.0", {}),
    )
    assert view.verified == {"1.0.0", "1.1.0"}
    assert view.newest_verified == "1.0.0"  # 1.1.0 was verified, then rolled back
    forced = view_of(
        *[(e["event"], e["version"], {}) for e in view.events],
        ("deploy", "1.1.0", {"forced": True}),
    )
    assert forced.bad == set()


def test_a_ledger_that_cannot_be_written_is_a_host_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    ledger = Ledger(LocalConnection(), str(tmp_path / "file"))
    with pytest.raises(HostError, match=r"could not append to the ledger at .*/file \(exit code"):
        ledger.append("deploy", version="1.0.0")
