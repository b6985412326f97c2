"""`deployplay history`, `rollback` and `init` as functions and click commands, on local "hosts"."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from deployplay import release_commands as rc
from deployplay.errors import InventoryError, UnreachableError, UserError
from deployplay.runner.connections.local import LocalConnection
from deployplay.runner.inventory import Inventory
from deployplay.runner.ledger import Ledger, LedgerView, make_event
from deployplay.runner.results import CommandResult

ROOT = Path(__file__).resolve().parents[2]


def ev(event: str, version: str, **fields: Any) -> dict[str, Any]:
    return {"event": event, "version": version, "time": f"t-{event}-{version}", **fields}


def make_host(root: Path, releases: list[str], current: str | None, events: list[dict]) -> None:
    """A deploy root as push leaves it: releases/, the current symlink, the ledger."""
    for name in releases:
        (root / "releases" / name).mkdir(parents=True)
    if current:
        os.symlink(root / "releases" / current, root / "current")
    ledger = Ledger(LocalConnection("h"), str(root))
    for record in events:
        ledger.append(record.pop("event"), **record)


# -- history_from_view / format_history -------------------------------------------------


def test_history_row_after_a_rollback_names_the_rollback_and_the_previous_good_release():
    events = [
        ev("deploy", "1.0.0", user="ann", controller="lap"),
        ev("verified", "1.0.0"),
        ev("deploy", "1.1.0", user="bob", controller="ci"),
        ev("verified", "1.1.0"),
        ev("deploy", "1.2.0", user="bob", controller="ci"),
        ev("rollback", "1.1.0", user="bob", controller="ci"),
        ev("bad", "1.2.0"),
    ]
    view = LedgerView(events=events, current_target="/srv/a/releases/1.1.0")
    row = rc.history_from_view("web-1", "/srv/a", view)
    assert (row.current, row.previous, row.how) == ("1.1.0", "1.0.0", "rollback")
    assert (row.user, row.controller, row.time) == ("bob", "ci", "t-rollback-1.1.0")
    assert row.verified is True and row.bad is False


def test_history_row_of_an_unverified_release_and_of_an_empty_host():
    view = LedgerView(events=[ev("deploy", "2.0.0", user="x")], current_target="r/2.0.0")
    row = rc.history_from_view("h", "/p", view)
    assert (row.current, row.previous, row.verified, row.how) == ("2.0.0", None, False, "deploy")
    empty = rc.history_from_view("h2", "/p", LedgerView(events=[]))
    assert empty.current is None and empty.how is None


def test_format_history_shows_every_host_with_errors_and_empty_hosts_in_words():
    rows = [
        rc.HostHistory("web-1", "/p", current="1.1.0", previous="1.0.0", how="deploy",
                       time="2026-01-01T00:00:00+00:00", user="ann", controller="lap",
                       verified=True),
        rc.HostHistory("web-2", "/p", current="1.2.0", bad=True, how="deploy"),
        rc.HostHistory("web-3", "/p"),
        rc.HostHistory("web-4", "/p", error="connection refused"),
    ]  # fmt: skip
    lines = rc.format_history(rows).splitlines()
    assert lines[0].split() == ["HOST", "CURRENT", "PREVIOUS", "VERIFIED", "HOW", "WHEN", "BY"]
    assert lines[1].split() == [
        "web-1", "1.1.0", "1.0.0", "yes", "deploy", "2026-01-01T00:00:00+00:00", "ann@lap"
    ]  # fmt: skip
    assert lines[2].split()[:4] == ["web-2", "1.2.0", "-", "BAD"]
    assert lines[3].endswith("nothing deployed")
    assert lines[4].endswith("cannot read: connection refused")
    # Columns line up: CURRENT starts at the same offset on every line.
    words = ("CURRENT", "1.1.0", "1.2.0")
    assert len({line.index(word) for line, word in zip(lines[:3], words, strict=True)}) == 1


# -- deploy_paths / read_history --------------------------------------------------------


def test_deploy_paths_templates_the_inventory_var_and_path_overrides_it():
    inventory = Inventory.from_mapping(
        {
            "all": {
                "vars": {"base": "/srv"},
                "hosts": {"a": {"deploy_path": "{{ base }}/a"}, "b": {}},
            }
        }
    )
    assert rc.deploy_paths(inventory, ["a"]) == {"a": "/srv/a"}
    assert rc.deploy_paths(inventory, ["a"], extra_vars={"base": "/opt"}) == {"a": "/opt/a"}
    assert rc.deploy_paths(inventory, ["a", "b"], path="/x") == {"a": "/x", "b": "/x"}
    with pytest.raises(InventoryError, match="host 'b' has no deploy_path") as info:
        rc.deploy_paths(inventory, ["a", "b"])
    assert "--path" in str(info.value)


def test_read_history_reads_each_ledger_and_reports_a_host_it_cannot_reach(tmp_path):
    make_host(
        tmp_path / "a",
        ["1.0.0", "1.1.0"],
        "1.1.0",
        [ev("deploy", "1.0.0"), ev("deploy", "1.1.0", user="ann"), ev("verified", "1.1.0")],
    )
    closed: list[str] = []

    class Recording(LocalConnection):
        def close(self) -> None:
            closed.append(self.host)

    def connect(host: str) -> Any:
        if host == "down":
            raise UnreachableError("down: connection refused")
        return Recording(host)

    paths = {"a": str(tmp_path / "a"), "down": "/srv/x"}
    rows = rc.read_history(paths, connect)
    assert [r.host for r in rows] == ["a", "down"]
    assert (rows[0].current, rows[0].previous, rows[0].verified) == ("1.1.0", "1.0.0", True)
    assert rows[0].releases == ["1.0.0", "1.1.0"]
    assert rows[1].error == "down: connection refused" and rows[1].current is None
    assert closed == ["a"]


def test_read_history_turns_an_unreadable_ledger_into_a_row_error():
    class Broken:
        host = "b"

        def run(self, command: str, **_: Any) -> CommandResult:
            return CommandResult(command=command, exit_code=1, stdout="", stderr="boom")

        def close(self) -> None:
            pass

    rows = rc.read_history({"b": "/srv"}, lambda _h: Broken())
    assert rows[0].error is not None and "could not read the ledger" in rows[0].error


def write_local_inventory(tmp_path: Path, hosts: dict[str, dict]) -> Path:
    import yaml

    path = tmp_path / "inv.yml"
    data = {"all": {"vars": {"connection": "local"}, "hosts": hosts}}
    path.write_text(yaml.safe_dump(data))
    return path


def test_history_command_prints_a_table_and_json_and_exit_codes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "srv-a"
    make_host(root, ["1.0.0"], "1.0.0", [ev("deploy", "1.0.0", user="ann", controller="lap")])
    inventory = write_local_inventory(
        tmp_path, {"a": {"deploy_path": "{{ where }}"}, "b": {"deploy_path": str(tmp_path / "b")}}
    )
    runner = CliRunner()
    args = ["-i", str(inventory), "-e", f"where={root}"]
    result = runner.invoke(rc.history_command, args, standalone_mode=False)
    assert result.exception is None, result.output
    assert result.return_value == 0
    rows_by_host = {line.split()[0]: line for line in result.output.splitlines()[1:]}
    assert rows_by_host["a"].split()[1:5] == ["1.0.0", "-", "no", "deploy"]
    assert rows_by_host["a"].endswith("ann@lap")
    assert rows_by_host["b"].endswith("nothing deployed")

    result = runner.invoke(rc.history_command, [*args, "--json", "-l", "a"], standalone_mode=False)
    rows = json.loads(result.output)
    assert [row["host"] for row in rows] == ["a"]
    assert rows[0]["current"] == "1.0.0" and rows[0]["user"] == "ann"


def test_history_command_is_a_one_line_user_error_for_a_host_without_deploy_path(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    inventory = write_local_inventory(tmp_path, {"a": {}})
    result = CliRunner().invoke(rc.history_command, ["-i", str(inventory)], standalone_mode=False)
    assert result.return_value == 3
    assert "no deploy_path variable" in result.output + capsys.readouterr().err


def test_history_exit_code_is_4_when_a_host_cannot_be_read(tmp_path, monkeypatch):
    rows = [rc.HostHistory("a", "/p", error="unreachable")]
    monkeypatch.setattr(rc, "history", lambda *a, **k: rows)
    result = CliRunner().invoke(rc.history_command, ["-i", "x"], standalone_mode=False)
    assert result.return_value == 4
    assert "cannot read: unreachable" in result.output


# -- rollback ---------------------------------------------------------------------------


def test_rollback_options_put_the_target_and_reason_last_as_extra_vars():
    options = rc.rollback_options(
        "prod", to="1.4.1", reason="bad deploy", limit="web-2", extra_vars=("a=1",), check=True
    )
    assert options["inventory"] == "prod" and options["limit"] == "web-2"
    assert options["check"] is True
    assert options["extra_vars"][0] == "a=1"
    assert json.loads(options["extra_vars"][-1]) == {
        "rollback_to": "1.4.1",
        "rollback_reason": "bad deploy",
    }
    assert rc.rollback_options("prod")["extra_vars"] == ()


def test_rollback_playbook_prefers_the_projects_own_then_the_shipped_one(tmp_path):
    assert rc.rollback_playbook(tmp_path) == rc.SCAFFOLD_DIR / "playbooks" / "rollback.yml"
    own = tmp_path / "playbooks" / "rollback.yml"
    own.parent.mkdir()
    own.write_text("- hosts: all\n  tasks: []\n")
    assert rc.rollback_playbook(tmp_path) == own


def test_rollback_command_runs_the_playbook_through_launch_run(tmp_path, monkeypatch):
    import deployplay.runner.launch as launch

    calls: list[tuple] = []

    def fake_launch(playbook: Path, verbosity: int, report: Path | None, options: dict) -> int:
        calls.append((playbook, verbosity, report, options))
        return 2

    monkeypatch.setattr(launch, "launch_run", fake_launch)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        rc.rollback_command,
        ["-i", "prod", "--to", "v1.2.2", "-l", "web*", "-vv", "--check"],
        standalone_mode=False,
    )
    assert result.return_value == 2
    playbook, verbosity, report, options = calls[0]
    assert playbook == rc.SCAFFOLD_DIR / "playbooks" / "rollback.yml"
    assert (verbosity, report) == (2, None)
    assert options["inventory"] == "prod" and options["limit"] == "web*" and options["check"]
    assert json.loads(options["extra_vars"][-1]) == {"rollback_to": "v1.2.2"}


# -- init -------------------------------------------------------------------------------


def test_init_copies_the_scaffold_and_refuses_to_overwrite(tmp_path):
    written = rc.init_project(tmp_path)
    names = {str(p) for p in written}
    assert {"playbooks/release.yml", "playbooks/rollback.yml", "inventories/prod.yml"} <= names
    assert "inventories/group_vars/all.yml" in names
    assert "playbooks/modules/deploy_note.py" in names
    assert (tmp_path / "playbooks/release.yml").read_text() == (
        rc.SCAFFOLD_DIR / "playbooks/release.yml"
    ).read_text()

    (tmp_path / "inventories/prod.yml").write_text("# mine\n")
    with pytest.raises(UserError, match=r"refusing to overwrite .*inventories/prod\.yml") as info:
        rc.init_project(tmp_path)
    assert "--force" in str(info.value)
    assert (tmp_path / "inventories/prod.yml").read_text() == "# mine\n"
    rc.init_project(tmp_path, force=True)
    assert (tmp_path / "inventories/prod.yml").read_text() != "# mine\n"


def test_init_command_reports_created_files_and_errors_in_one_line(tmp_path):
    runner = CliRunner()
    result = runner.invoke(rc.init_command, [str(tmp_path)], standalone_mode=False)
    assert result.return_value == 0
    assert f"created {tmp_path}/playbooks/release.yml" in result.output
    result = runner.invoke(rc.init_command, [str(tmp_path)], standalone_mode=False)
    assert result.return_value == 3
    result = runner.invoke(rc.init_command, [str(tmp_path / "nope")], standalone_mode=False)
    assert result.return_value == 3


def test_the_scaffold_playbooks_are_the_repositorys_playbooks():
    for name in ("release.yml", "rollback.yml"):
        shipped = (rc.SCAFFOLD_DIR / "playbooks" / name).read_text()
        assert shipped == (ROOT / "playbooks" / name).read_text(), (
            f"deployplay/scaffold/playbooks/{name} differs from playbooks/{name}: copy it over"
        )


@pytest.mark.parametrize("base", [ROOT, rc.SCAFFOLD_DIR], ids=["repo", "scaffold"])
@pytest.mark.parametrize("playbook", ["release.yml", "rollback.yml"])
@pytest.mark.parametrize("inventory", ["staging", "prod", "local"])
def test_playbooks_and_inventories_pass_deployplay_check(base, playbook, inventory, monkeypatch):
    from deployplay.runner.launch import check_playbook

    monkeypatch.chdir(base)
    summary = check_playbook(Path("playbooks") / playbook, inventory)
    assert summary.startswith(f"playbooks/{playbook}: ok")


def test_inventories_give_every_host_what_the_playbooks_need(monkeypatch):
    from deployplay.runner.variables import VariableManager

    monkeypatch.chdir(ROOT)
    needed = ("deploy_path", "app_port", "app_restart", "health_url", "deploy_env", "app_log")
    for name in ("staging", "prod", "local"):
        inventory = Inventory.load(name, playbook_dir=Path("playbooks"))
        manager = VariableManager(inventory, {}, ROOT / "playbooks")
        for host in inventory.hosts:
            view = manager.host_view(host)
            assert all(str(view[var]) for var in needed), (name, host)
    local = Inventory.load("local", playbook_dir=Path("playbooks"))
    views = {h: VariableManager(local, {}, ROOT).host_view(h) for h in local.hosts}
    assert {local.connection_settings(h).connection for h in local.hosts} == {"local"}
    assert len({v["deploy_path"] for v in views.values()}) == len(views)
    assert len({v["app_port"] for v in views.values()}) == len(views)
    assert views["prod-1"]["health_url"] == "http://127.0.0.1:28111/health"
    assert views["prod-1"]["promotion_path"] == views["staging-1"]["deploy_path"]


def test_make_event_fields_are_what_history_reads():
    # history relies on the ledger's record shape: event, version, time, user, controller.
    record = make_event("deploy", None, version="1.0.0")
    assert {"event", "time", "version"} <= set(record)


def test_the_scaffolded_example_module_is_discovered_beside_the_playbooks():
    from deployplay.modules.registry import ModuleRegistry

    registry = ModuleRegistry.discover(rc.SCAFFOLD_DIR / "playbooks", module_path="")
    module_cls = registry.get("deploy_note")
    assert registry.origin("deploy_note").endswith("playbooks/modules/deploy_note.py")
    assert module_cls.Args(path="/tmp/x", text="hi").text == "hi"


def test_the_scaffold_inventories_match_the_repositorys_but_for_the_service_settings():
    for rel in ("staging.yml", "prod.yml", "local.yml", "group_vars/production.yml"):
        shipped = (rc.SCAFFOLD_DIR / "inventories" / rel).read_text()
        assert shipped == (ROOT / "inventories" / rel).read_text(), rel
    all_vars = (rc.SCAFFOLD_DIR / "inventories" / "group_vars" / "all.yml").read_text()
    assert "app_name: my-service" in all_vars and "hello" not in all_vars.replace("hello-", "")
