"""One task on one host: when -> loop -> module -> changed_when/failed_when -> until -> register.

`execute_task` is the only entry point; it never raises for a problem on the
host or in a template at run time: that task fails on that host (as in
Ansible, an undefined variable fails the task, not the run), and the message
names the task's file:line. Unreachable hosts give status `unreachable`.
What the play does next (notify, rescue, leave the play) is play.py's job.
"""

from __future__ import annotations

import time
import traceback
from collections import ChainMap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from deployplay.errors import DeployplayError, PlaybookError, UnreachableError
from deployplay.modules.base import Module, ModuleContext, ModuleResult
from deployplay.runner.connections.base import Connection
from deployplay.runner.context import RunContext
from deployplay.runner.model import Task
from deployplay.runner.results import TaskResult
from deployplay.runner.scope import Scope
from deployplay.runner.templating import Templar, truth
from deployplay.runner.variables import OMIT

LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
MAX_RETRIES = 1000
MAX_DELAY_S = 3600.0
INCLUDE = "include_tasks"


def execute_task(ctx: RunContext, host: str, task: Task, scope: Scope) -> TaskResult:
    """Run `task` on `host` and register its result; a failure is a result, not an exception."""
    started = time.monotonic()
    run = TaskRun(ctx, host, task, scope)
    try:
        result = run.execute()
    except UnreachableError as exc:
        result = TaskResult("unreachable", msg=str(exc))
    except DeployplayError as exc:
        result = TaskResult("failed", msg=str(exc.at(task.location)))
    result.duration_s = time.monotonic() - started
    result.no_log = run.flag("no_log")
    if result.status == "failed" and run.flag("ignore_errors"):
        result.status = "ignored"
    if task.register:
        ctx.variables.register(host, task.register, result.registered())
    if run.delegated_to:
        result.data.setdefault("_delegated_to", run.delegated_to)
    return result


def apply_result(ctx: RunContext, host: str, task: Task, result: TaskResult) -> None:
    """Give `host` the outcome another host got (run_once): registered value and facts."""
    if task.register:
        ctx.variables.register(host, task.register, result.registered())
    facts = result.data.get("ansible_facts")
    if isinstance(facts, Mapping) and not result.failed:
        ctx.variables.set_facts(host, dict(facts))


class TaskRun:
    """The state of one task on one host while it runs: its variables and templar."""

    def __init__(self, ctx: RunContext, host: str, task: Task, scope: Scope) -> None:
        self.ctx = ctx
        self.host = host
        self.task = task
        self.scope = scope
        self.delegated_to: str | None = None
        self.loop_vars: dict[str, Any] = {}
        self.templar = self._templar_with({})

    def _templar_with(self, loop_vars: Mapping[str, Any]) -> Templar:
        scope = self.scope
        view = self.ctx.variables.host_view(
            self.host,
            scope.play,
            scopes=[*scope.var_layers, self.task.vars],
            play_hosts=scope.play_hosts,
            play_batch=scope.batch,
            extra=loop_vars or None,
        )
        return Templar(view, searchpath=self._searchpath())

    def _searchpath(self) -> list[Path]:
        paths = []
        if self.task.location is not None:
            paths.append(Path(self.task.location.file).parent)
        paths.append(self.ctx.playbook_dir)
        return list(dict.fromkeys(paths))

    def flag(self, name: str) -> bool:
        """A boolean keyword (no_log, ignore_errors), inherited and templated; unset is False."""
        value = self.scope.keyword(self.task, name, False)
        try:
            return truth(self.templar.template(value))
        except DeployplayError:
            return name == "no_log"  # when in doubt, hide rather than show

    def when(self, templar: Templar) -> bool:
        conditions = self.scope.conditions(self.task)
        return templar.is_true(list(conditions)) if conditions else True

    # -- one run, or one per loop item --

    def execute(self) -> TaskResult:
        if self.task.loop is None:
            return self._single(self.templar)
        return self._loop()

    def _single(self, templar: Templar) -> TaskResult:
        if not self.when(templar):
            return TaskResult("skipped", msg="Conditional result was False")
        return self._with_retries(templar)

    def _loop(self) -> TaskResult:
        items = self._loop_items()
        control = self.task.loop_control
        pause = float(self.templar.template(control.pause) or 0)
        results: list[TaskResult] = []
        for index, item in enumerate(items):
            if self.ctx.interrupted.is_set():
                break
            if index and pause > 0 and self.ctx.interrupted.wait(min(pause, MAX_DELAY_S)):
                break
            self.loop_vars = self._loop_vars(items, index, item)
            templar = self._templar_with(self.loop_vars)
            result = self._single(templar)
            label = templar.template(control.label) if control.label is not None else item
            result.data.update({control.loop_var: item, "ansible_loop_var": control.loop_var})
            result.data["_ansible_item_label"] = label
            results.append(result)
        return _aggregate(results)

    def _loop_items(self) -> list[Any]:
        items = self.templar.template(self.task.loop)
        if self.task.flatten_loop:
            return _flattened_once(items)
        if isinstance(items, str | bytes | Mapping) or not hasattr(items, "__iter__"):
            raise PlaybookError(
                f"invalid data passed to 'loop': it needs a list, got {type(items).__name__}",
                hint="use a list, or e.g. dict2items for a mapping",
            )
        return list(items)

    def _loop_vars(self, items: list[Any], index: int, item: Any) -> dict[str, Any]:
        control = self.task.loop_control
        loop_vars: dict[str, Any] = {control.loop_var: item}
        if control.index_var:
            loop_vars[control.index_var] = index
        if truth(self.templar.template(control.extended)):
            count = len(items)
            loop_vars["ansible_loop"] = {
                "allitems": items,
                "index": index + 1,
                "index0": index,
                "revindex": count - index,
                "revindex0": count - index - 1,
                "first": index == 0,
                "last": index == count - 1,
                "length": count,
                "previtem": items[index - 1] if index else None,
                "nextitem": items[index + 1] if index + 1 < count else None,
            }
        return loop_vars

    # -- retries --

    def _with_retries(self, templar: Templar) -> TaskResult:
        until = self.task.until
        if until is None:
            return self._attempt(templar)
        retries = self.task.retries
        retries = 3 if retries is None else int(templar.template(retries))
        delay = self.task.delay
        delay = 5.0 if delay is None else float(templar.template(delay))
        attempts = min(max(retries, 0), MAX_RETRIES) + 1
        for attempt in range(1, attempts + 1):
            result = self._attempt(templar)
            result.data["attempts"] = attempt
            if result.status in ("unreachable", "skipped"):
                return result
            if self._holds((until,), templar, result):
                return result
            if attempt < attempts:
                self.ctx.reporter.on_retry(self.host, self.task, attempts - attempt, result)
                if self.ctx.interrupted.wait(min(max(delay, 0.0), MAX_DELAY_S)):
                    break
        result.status = "failed"
        return result

    def _holds(self, conditions: tuple[Any, ...], templar: Templar, result: TaskResult) -> bool:
        """Evaluate conditions with the result visible under the register name."""
        names: dict[str, Any] = {}
        if self.task.register:
            names[self.task.register] = result.registered()
        checker = Templar(ChainMap(names, templar.variables), searchpath=templar.searchpath)
        return checker.is_true(list(conditions))

    # -- the module --

    def _attempt(self, templar: Templar) -> TaskResult:
        if self.task.module == INCLUDE:
            return self._include(templar)
        module_cls = self.ctx.registry.get(self.task.module, self.task.location)
        check = self._check_mode(templar)
        if check and not (module_cls.supports_check_mode or module_cls.read_only):
            msg = f"skipped: module {module_cls.name} does not support check mode"
            return TaskResult("skipped", msg=msg)
        args = {k: v for k, v in templar.template(dict(self.task.args)).items() if v != OMIT}
        parsed = self.ctx.registry.parse_args(module_cls, args, self.task.location)
        module_ctx = self._module_context(module_cls, templar, check)
        outcome = self._run_module(module_cls, module_ctx, parsed)
        result = self._changed_failed_when(_from_module(outcome), templar)
        if outcome.facts and not result.failed:
            self.ctx.variables.set_facts(self.host, dict(outcome.facts))
            result.data.setdefault("ansible_facts", dict(outcome.facts))
        return result

    def _run_module(self, module_cls: type[Module], module_ctx: ModuleContext, args: Any) -> Any:
        try:
            return module_cls().run(module_ctx, args)
        except DeployplayError:
            raise
        except Exception as exc:  # a bug in a module must fail its task, not the whole run
            return ModuleResult(
                failed=True,
                msg=f"module '{module_cls.name}' crashed: {type(exc).__name__}: {exc}",
                data={"_exception": traceback.format_exc()},
            )

    def _changed_failed_when(self, result: TaskResult, templar: Templar) -> TaskResult:
        task = self.task
        if result.status in ("skipped", "unreachable"):
            return result
        if task.changed_when:
            result.changed = self._holds(task.changed_when, templar, result)
        failed = result.status == "failed"
        if task.failed_when:
            failed = self._holds(task.failed_when, templar, result)
            result.data["failed_when_result"] = failed
        result.status = "failed" if failed else ("changed" if result.changed else "ok")
        return result

    def _check_mode(self, templar: Templar) -> bool:
        value = self.scope.keyword(self.task, "check_mode")
        if value is None:
            return self.ctx.options.check
        return truth(templar.template(value))

    def _module_context(
        self, module_cls: type[Module], templar: Templar, check: bool
    ) -> ModuleContext:
        scope, task, reporter = self.scope, self.task, self.ctx.reporter
        environment = templar.template(scope.environment(task))
        timeout = templar.template(task.timeout)
        become, become_user = self._become()
        return ModuleContext(
            host=self.host,
            vars=templar.variables,
            connection=self._connection(module_cls, templar),
            check_mode=check,
            diff_mode=self.ctx.options.diff,
            run_state=self.ctx.run_state,
            templar=templar,
            inventory=self.ctx.inventory,
            playbook_dir=self.ctx.playbook_dir,
            task_name=task.name or task.module,
            location=task.location,
            verbosity=self.ctx.options.verbosity,
            environment={str(k): str(v) for k, v in environment.items()},
            become=truth(templar.template(become)),
            become_user=templar.template(become_user),
            timeout=float(timeout) if timeout not in (None, "") else None,
            connection_for=lambda name: self._connection_named(name, templar),
            options=self.ctx.options,
            progress=lambda text: reporter.on_progress(self.host, task, text),
            output=lambda line: reporter.on_output(self.host, line),
        )

    def _become(self) -> tuple[Any, Any]:
        """become/become_user from the task, its blocks, its play, else the host's inventory."""
        become = self.scope.keyword(self.task, "become")
        become_user = self.scope.keyword(self.task, "become_user")
        if become is None or become_user is None:
            settings = self.ctx.inventory.connection_settings(self.host)
            become = settings.become if become is None else become
            become_user = settings.become_user if become_user is None else become_user
        return become, become_user

    def _connection(self, module_cls: type[Module], templar: Templar) -> Connection:
        delegate = self.scope.keyword(self.task, "delegate_to")
        if delegate:
            self.delegated_to = str(templar.template(delegate))
            return self._connection_named(self.delegated_to, templar)
        if module_cls.runs_on == "controller" or self.scope.play.connection == "local":
            return self.ctx.connections.local()
        return self.ctx.connections.get(self.host, self._remote_user(self.host, templar))

    def _connection_named(self, name: str, templar: Templar) -> Connection:
        if name in LOCAL_NAMES and name not in self.ctx.inventory.hosts:
            return self.ctx.connections.local()
        return self.ctx.connections.get(name, self._remote_user(name, templar))

    def _remote_user(self, host: str, templar: Templar) -> str | None:
        """The play's remote_user, for a host whose inventory names no user: as in Ansible,
        the host's `ansible_user` (or `user`) variable wins over the play keyword."""
        user = self.scope.play.remote_user
        if not user or self.ctx.inventory.connection_settings(host).user is not None:
            return None
        return str(templar.template(user))

    # -- include_tasks: the play loads and runs the file; here we find it --

    def _include(self, templar: Templar) -> TaskResult:
        args = templar.template(dict(self.task.args))
        name = args.get("file") or args.get("_raw_params")
        if not name:
            raise PlaybookError("include_tasks needs a file", location=self.task.location)
        path = Path(str(name))
        if not path.is_absolute():
            candidates = [base / path for base in self._searchpath()]
            path = next((c for c in candidates if c.exists()), candidates[0])
        data = {"include": str(path), "_include_vars": dict(self.loop_vars)}
        return TaskResult("ok", data=data)


def _from_module(outcome: ModuleResult) -> TaskResult:
    if outcome.failed:
        status = "failed"
    elif outcome.skipped:
        status = "skipped"
    else:
        status = "changed" if outcome.changed else "ok"
    return TaskResult(
        status=status,
        msg=outcome.msg,
        changed=outcome.changed,
        data=dict(outcome.data),
        diff=outcome.diff,
    )


def _flattened_once(items: Any) -> list[Any]:
    """`with_items`: a lone value is a list of one; nested lists give their items (one level)."""
    if isinstance(items, str | bytes | Mapping) or not hasattr(items, "__iter__"):
        items = [items]
    flat: list[Any] = []
    for item in items:
        if isinstance(item, list | tuple):
            flat.extend(item)
        else:
            flat.append(item)
    return flat


def _aggregate(results: list[TaskResult]) -> TaskResult:
    """A loop's result from its items' results, as Ansible folds them."""
    if not results or all(r.status == "skipped" for r in results):
        msg = "No items in the list" if not results else "All items skipped"
        return TaskResult("skipped", msg=msg, items=results)
    changed = any(r.changed for r in results)
    if any(r.status == "unreachable" for r in results):
        status, msg = "unreachable", "One or more items were unreachable"
    elif any(r.status == "failed" for r in results):
        status, msg = "failed", "One or more items failed"
    else:
        status, msg = ("changed" if changed else "ok"), "All items completed"
    return TaskResult(status, msg=msg, changed=changed, items=results)  # type: ignore[arg-type]
