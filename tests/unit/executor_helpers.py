"""Stand-ins for executor tests: tiny modules, a RunContext over FakeConnections."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from deployplay.errors import Location
from deployplay.modules.base import Module, ModuleArgs, ModuleContext, ModuleResult
from deployplay.modules.meta import Meta
from deployplay.modules.registry import ModuleRegistry
from deployplay.runner.connections.fake import FakeConnection
from deployplay.runner.context import Connections, RunContext, RunOptions, RunState
from deployplay.runner.inventory import Inventory
from deployplay.runner.model import Play, Task
from deployplay.runner.reporting import Reporter
from deployplay.runner.results import TaskResult
from deployplay.runner.scope import Scope
from deployplay.runner.variables import VariableManager


class RunArgs(ModuleArgs):
    cmd: str


class Run(Module):
    """Runs cmd; changed when it ran, failed on non-zero."""

    name = "run"
    Args = RunArgs
    free_form = "cmd"

    def run(self, ctx: ModuleContext, args: RunArgs) -> ModuleResult:
        result = ctx.run(args.cmd)
        data = {"stdout": result.stdout, "rc": result.exit_code, "target": ctx.connection.host}
        return ModuleResult(changed=True, failed=result.failed, msg=result.stderr, data=data)


class CheckArgs(ModuleArgs):
    value: Any = None


class Careful(Module):
    """Supports check mode: says what it would do."""

    name = "careful"
    Args = CheckArgs
    supports_check_mode = True

    def run(self, ctx: ModuleContext, args: CheckArgs) -> ModuleResult:
        return ModuleResult(changed=True, msg=f"check={ctx.check_mode}", data={"value": args.value})


class Crash(Module):
    """Raises: a bug in a module."""

    name = "crash"
    Args = CheckArgs

    def run(self, ctx: ModuleContext, args: CheckArgs) -> ModuleResult:
        raise ZeroDivisionError("oops")


class Facts(Module):
    """Returns its arguments as facts."""

    name = "facts"
    Args = CheckArgs
    read_only = True
    runs_on = "controller"

    def run(self, ctx: ModuleContext, args: CheckArgs) -> ModuleResult:
        return ModuleResult(facts=dict(args.value), data={"ansible_facts": dict(args.value)})


class Slow(Module):
    """Sleeps `value` seconds on the controller."""

    name = "slow"
    Args = CheckArgs
    runs_on = "controller"

    def run(self, ctx: ModuleContext, args: CheckArgs) -> ModuleResult:
        time.sleep(float(args.value))
        return ModuleResult()


class Recorder(Reporter):
    def __init__(self) -> None:
        self.retries: list[tuple[str, int]] = []
        self.results: list[tuple[str, str, str]] = []
        self.progress: list[tuple[str, str]] = []

    def on_progress(self, host: str, task: Any, text: str) -> None:
        self.progress.append((host, text))

    def on_retry(self, host: str, task: Any, retries_left: int, result: TaskResult) -> None:
        self.retries.append((host, retries_left))

    def on_host_result(self, host: str, task: Any, result: TaskResult, **_: Any) -> None:
        self.results.append((host, task.name, result.status))


def make_context(
    hosts: list[str], *, check: bool = False, extra_vars: dict[str, Any] | None = None
) -> tuple[RunContext, dict[str, FakeConnection], Recorder]:
    inventory = Inventory.from_mapping({"all": {"hosts": {h: {} for h in hosts}}})
    fakes = {h: FakeConnection(h) for h in hosts}
    registry = ModuleRegistry.from_classes([Run, Careful, Crash, Facts, Slow, Meta])
    options = RunOptions(check=check, extra_vars=extra_vars or {})
    variables = VariableManager(inventory, options.extra_vars, Path("."), check_mode=check)
    reporter = Recorder()
    ctx = RunContext(
        options=options,
        inventory=inventory,
        variables=variables,
        registry=registry,
        reporter=reporter,
        connections=Connections(lambda h: fakes[h]),
        run_state=RunState(),
        playbook_dir=Path("."),
    )
    return ctx, fakes, reporter


LOCATION = Location("play.yml", 7, 7)


def task(module: str = "run", args: dict[str, Any] | None = None, **keywords: Any) -> Task:
    return Task(
        name=keywords.pop("name", "t"),
        module=module,
        args=args if args is not None else {"cmd": "echo hi"},
        location=keywords.pop("location", LOCATION),
        **keywords,
    )


def scope(**play_keywords: Any) -> Scope:
    return Scope(Play(name="p", hosts="all", **play_keywords))
