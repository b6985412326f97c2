from __future__ import annotations

from pathlib import Path

from executor_helpers import Recorder, make_context, scope, task

from deployplay.errors import UnreachableError
from deployplay.modules.registry import ModuleRegistry
from deployplay.runner import connections
from deployplay.runner.connections.fake import FakeConnection
from deployplay.runner.context import Connections, RunOptions
from deployplay.runner.executor import apply_result, execute_task
from deployplay.runner.inventory import ConnectionSettings, Inventory
from deployplay.runner.launch import build_context
from deployplay.runner.model import Block, LoopControl, Playbook


def registered(ctx, host: str, name: str):
    return ctx.variables.host_view(host, None)[name]


def test_runs_module_and_registers_result() -> None:
    ctx, fakes, _ = make_context(["web1"])
    fakes["web1"].on("echo hi", stdout="hi\n")
    result = execute_task(ctx, "web1", task(register="out"), scope())
    assert result.status == "changed"
    assert fakes["web1"].commands() == ["echo hi"]
    assert registered(ctx, "web1", "out")["stdout"] == "hi\n"


def test_when_false_skips_and_registers_skipped() -> None:
    ctx, fakes, _ = make_context(["web1"])
    result = execute_task(ctx, "web1", task(when=("1 == 2",), register="out"), scope())
    assert result.status == "skipped"
    assert fakes["web1"].commands() == []
    assert registered(ctx, "web1", "out")["skipped"] is True


def test_block_conditions_apply_to_tasks() -> None:
    ctx, _fakes, _ = make_context(["web1"])
    block = Block(block=(), when=("inventory_hostname == 'other'",))
    result = execute_task(ctx, "web1", task(), scope().enter(block))
    assert result.status == "skipped"


def test_loop_evaluates_when_per_item_with_loop_control() -> None:
    ctx, fakes, _ = make_context(["web1"])
    looped = task(
        args={"cmd": "echo {{ fruit }} {{ i }}"},
        loop=["apple", "banana", "cherry"],
        loop_control=LoopControl(loop_var="fruit", index_var="i", label="<{{ fruit }}>"),
        when=("fruit != 'banana'",),
        register="fruits",
    )
    result = execute_task(ctx, "web1", looped, scope())
    assert fakes["web1"].commands() == ["echo apple 0", "echo cherry 2"]
    assert [item.status for item in result.items] == ["changed", "skipped", "changed"]
    assert result.status == "changed"
    assert result.items[0].data["_ansible_item_label"] == "<apple>"
    value = registered(ctx, "web1", "fruits")
    assert [r["fruit"] for r in value["results"]] == ["apple", "banana", "cherry"]


def test_loop_with_a_failed_item_fails_the_task() -> None:
    ctx, fakes, _ = make_context(["web1"])
    fakes["web1"].on("echo b", exit_code=1)
    result = execute_task(
        ctx, "web1", task(args={"cmd": "echo {{ item }}"}, loop=["a", "b"]), scope()
    )
    assert result.status == "failed"
    assert result.msg == "One or more items failed"


def test_empty_loop_is_skipped() -> None:
    ctx, _, _ = make_context(["web1"])
    assert execute_task(ctx, "web1", task(loop=[]), scope()).status == "skipped"


def test_changed_when_and_failed_when_see_the_registered_result() -> None:
    ctx, fakes, _ = make_context(["web1"])
    fakes["web1"].on("deploy", stdout="ERROR in release", exit_code=0)
    checked = task(
        args={"cmd": "deploy"},
        register="out",
        changed_when=("'changed' in out.stdout",),
        failed_when=("'ERROR' in out.stdout",),
    )
    result = execute_task(ctx, "web1", checked, scope())
    assert result.status == "failed"
    assert result.changed is False
    assert registered(ctx, "web1", "out")["failed"] is True


def test_failed_when_false_turns_a_failure_into_success() -> None:
    ctx, fakes, _ = make_context(["web1"])
    fakes["web1"].on("grep", exit_code=1)
    result = execute_task(ctx, "web1", task(args={"cmd": "grep x"}, failed_when=(False,)), scope())
    assert result.status == "changed"


def test_retries_until_counts_attempts_and_reports_retries() -> None:
    ctx, fakes, reporter = make_context(["web1"])
    fakes["web1"].on("probe", stdout="starting", times=2)
    fakes["web1"].on("probe", stdout="ready")
    probing = task(
        args={"cmd": "probe"}, register="probe", until="probe.stdout == 'ready'", retries=5, delay=0
    )
    result = execute_task(ctx, "web1", probing, scope())
    assert result.status == "changed"
    assert result.data["attempts"] == 3
    assert reporter.retries == [("web1", 5), ("web1", 4)]


def test_until_that_never_holds_fails_after_retries_plus_one_attempts() -> None:
    ctx, fakes, _ = make_context(["web1"])
    probing = task(
        args={"cmd": "probe"}, register="p", until="p.stdout == 'ready'", retries=2, delay=0
    )
    result = execute_task(ctx, "web1", probing, scope())
    assert result.status == "failed"
    assert len(fakes["web1"].commands()) == 3


def test_ignore_errors_gives_ignored_and_registers_failed() -> None:
    ctx, fakes, _ = make_context(["web1"])
    fakes["web1"].on("false", exit_code=1)
    result = execute_task(
        ctx, "web1", task(args={"cmd": "false"}, ignore_errors=True, register="r"), scope()
    )
    assert result.status == "ignored"
    assert registered(ctx, "web1", "r")["failed"] is True


def test_check_mode_skips_modules_without_support() -> None:
    ctx, fakes, _ = make_context(["web1"], check=True)
    result = execute_task(ctx, "web1", task(), scope())
    assert result.status == "skipped"
    assert result.msg == "skipped: module run does not support check mode"
    assert fakes["web1"].commands() == []
    careful = execute_task(ctx, "web1", task("careful", {}), scope())
    assert careful.msg == "check=True"


def test_task_check_mode_overrides_the_command_line() -> None:
    ctx, _fakes, _ = make_context(["web1"], check=True)
    assert execute_task(ctx, "web1", task(check_mode=False), scope()).status == "changed"
    ctx, _, _ = make_context(["web1"])
    assert (
        execute_task(ctx, "web1", task("careful", {}, check_mode=True), scope()).msg == "check=True"
    )


def test_no_log_marks_the_result_but_keeps_the_registered_value() -> None:
    ctx, fakes, _ = make_context(["web1"])
    fakes["web1"].on("secret", stdout="s3cr3t")
    result = execute_task(
        ctx, "web1", task(args={"cmd": "secret"}, no_log=True, register="r"), scope()
    )
    assert result.no_log is True
    assert registered(ctx, "web1", "r")["stdout"] == "s3cr3t"


def test_environment_merges_play_block_and_task() -> None:
    ctx, fakes, _ = make_context(["web1"])
    block = Block(block=(), environment={"B": "block", "T": "block"})
    play_scope = scope(environment={"P": "play", "B": "play"}).enter(block)
    execute_task(ctx, "web1", task(environment={"T": "{{ 'task' }}"}), play_scope)
    env = fakes["web1"].calls[0].options["env"]
    assert env == {"P": "play", "B": "block", "T": "task"}


def test_become_and_timeout_reach_the_connection() -> None:
    ctx, fakes, _ = make_context(["web1"])
    execute_task(ctx, "web1", task(become=True, become_user="app", timeout=30), scope())
    options = fakes["web1"].calls[0].options
    assert (options["become"], options["become_user"], options["timeout"]) == (True, "app", 30.0)


def test_unreachable_host() -> None:
    ctx, fakes, _ = make_context(["web1"])
    fakes["web1"].on("echo", raises=UnreachableError("web1 dropped off"))
    result = execute_task(ctx, "web1", task(), scope())
    assert result.status == "unreachable"
    assert "dropped off" in result.msg


def test_undefined_variable_fails_the_task_naming_it_and_the_location() -> None:
    ctx, _, _ = make_context(["web1"])
    result = execute_task(ctx, "web1", task(args={"cmd": "echo {{ nope }}"}), scope())
    assert result.status == "failed"
    assert "nope" in result.msg
    assert "play.yml:7:7" in result.msg


def test_a_crashing_module_fails_its_task() -> None:
    ctx, _, _ = make_context(["web1"])
    result = execute_task(ctx, "web1", task("crash", {}), scope())
    assert result.status == "failed"
    assert "crashed: ZeroDivisionError" in result.msg
    assert "Traceback" in result.data["_exception"]


def test_delegate_to_localhost_and_controller_modules_use_the_local_connection() -> None:
    ctx, fakes, _ = make_context(["web1"])
    result = execute_task(
        ctx, "web1", task(args={"cmd": "echo x"}, delegate_to="localhost"), scope()
    )
    assert result.data["target"] == "localhost"
    assert fakes["web1"].commands() == []
    facts = execute_task(ctx, "web1", task("facts", {"value": {"colour": "blue"}}), scope())
    assert facts.status == "ok"
    assert ctx.variables.host_view("web1", None)["colour"] == "blue"


def test_extra_vars_win_over_task_vars() -> None:
    ctx, fakes, _ = make_context(["web1"], extra_vars={"who": "extra"})
    execute_task(ctx, "web1", task(args={"cmd": "echo {{ who }}"}, vars={"who": "task"}), scope())
    assert fakes["web1"].commands() == ["echo extra"]


def test_apply_result_shares_register_and_facts() -> None:
    ctx, _, _ = make_context(["web1", "web2"])
    shared = task("facts", {"value": {"picked": "web1"}}, register="once")
    result = execute_task(ctx, "web1", shared, scope())
    apply_result(ctx, "web2", shared, result)
    view = ctx.variables.host_view("web2", None)
    assert view["picked"] == "web1"
    assert view["once"]["ansible_facts"] == {"picked": "web1"}


def test_include_tasks_finds_the_file_relative_to_the_task(tmp_path) -> None:
    ctx, _, _ = make_context(["web1"])
    (tmp_path / "steps.yml").write_text("- debug: {msg: hi}\n")
    from deployplay.errors import Location

    include = task(
        "include_tasks",
        {"file": "steps.yml"},
        location=Location(str(tmp_path / "play.yml"), 3, 7),
    )
    result = execute_task(ctx, "web1", include, scope())
    assert result.data["include"] == str(tmp_path / "steps.yml")


def test_become_falls_back_to_the_inventory() -> None:
    from deployplay.runner.inventory import Inventory

    ctx, fakes, _ = make_context(["web1"])
    ctx.inventory = Inventory.from_mapping(
        {"all": {"hosts": {"web1": {"ansible_become": True, "ansible_become_user": "app"}}}}
    )
    execute_task(ctx, "web1", task(), scope())
    options = fakes["web1"].calls[0].options
    assert (options["become"], options["become_user"]) == (True, "app")
    execute_task(ctx, "web1", task(become=False), scope())
    assert fakes["web1"].calls[1].options["become"] is False


def test_play_remote_user_is_the_user_of_hosts_whose_inventory_names_none() -> None:
    ctx, fakes, _ = make_context(["web1", "web2"])
    # As Ansible: a host's ansible_user wins over the play's remote_user keyword.
    ctx.inventory = Inventory.from_mapping(
        {"all": {"hosts": {"web1": {}, "web2": {"ansible_user": "ops"}}}}
    )
    opened: list[tuple[str, str | None]] = []

    def opener(host: str, user: str | None = None) -> FakeConnection:
        opened.append((host, user))
        return fakes[host]

    ctx.connections = Connections(opener)
    as_deployer = scope(remote_user="{{ deployer }}", vars={"deployer": "deploy"})
    for host in ("web1", "web2"):
        assert execute_task(ctx, host, task(), as_deployer).status == "changed"
    execute_task(ctx, "web1", task(), scope())  # a play without remote_user
    execute_task(ctx, "web1", task(), as_deployer)  # its connection is reused
    assert opened == [("web1", "deploy"), ("web2", None), ("web1", None)]


def test_the_run_opens_a_remote_user_connection_as_that_user(monkeypatch) -> None:
    seen: list[ConnectionSettings] = []
    monkeypatch.setattr(connections, "open_connection", lambda s, _o: seen.append(s) or s)
    inventory = Inventory.from_mapping({"all": {"hosts": {"web1": {"ansible_port": 2222}}}})
    ctx = build_context(
        Playbook(Path("play.yml"), ()),
        inventory,
        ModuleRegistry.from_classes([]),
        RunOptions(),
        Recorder(),
    )
    ctx.connections.get("web1", "deploy")
    ctx.connections.get("web1")
    assert [(s.user, s.port) for s in seen] == [("deploy", 2222), (None, 2222)]


def test_modules_get_the_run_options_for_connections_of_their_own() -> None:
    # promotion_check opens connections to another inventory's hosts: they must follow
    # the run's host key policy, not a default one.
    from dataclasses import replace

    from deployplay.modules.base import Module, ModuleArgs, ModuleContext, ModuleResult

    seen = []

    class Capture(Module):
        name = "capture"
        Args = ModuleArgs
        read_only = True
        runs_on = "controller"

        def run(self, ctx: ModuleContext, args: ModuleArgs) -> ModuleResult:
            seen.append(ctx.options)
            return ModuleResult()

    ctx, _fakes, _ = make_context(["web1"])
    ctx = replace(ctx, registry=ModuleRegistry.from_classes([Capture]))
    result = execute_task(ctx, "web1", task("capture", {}), scope())
    assert result.status == "ok", result.msg
    assert seen == [ctx.options]
