"""One serial batch of a play, the linear strategy: each task on every live host, then the next.

Blocks recurse: `run_items` returns the hosts that failed inside the items
and were not rescued there, so the enclosing block can rescue them, run its
`always`, and pass the rest up. A failure that no enclosing block can rescue
"dooms" its host: the failure handlers in scope run on it at once (after the
task has answered on every host), `always` sections still run, and at the top
of the section the host leaves the play.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deployplay.errors import DeployplayError, UserError
from deployplay.runner.executor import INCLUDE, TaskRun, apply_result, execute_task
from deployplay.runner.handlers import HandlerBook
from deployplay.runner.model import Block, Handler, Play, Task
from deployplay.runner.reporting import task_title
from deployplay.runner.results import TaskResult
from deployplay.runner.scope import Scope
from deployplay.runner.tags import should_run
from deployplay.runner.templating import is_template, truth

if TYPE_CHECKING:
    from deployplay.runner.play import PlaybookRun

Item = Task | Block


class BatchRun:
    """The hosts of one batch going through pre_tasks, tasks and post_tasks together."""

    def __init__(
        self,
        run: PlaybookRun,
        play: Play,
        hosts: list[str],
        play_hosts: list[str],
        book: HandlerBook,
    ) -> None:
        self.run = run
        self.ctx = run.ctx
        self.play = play
        self.hosts = hosts
        self.play_hosts = play_hosts
        self.book = book
        self.active = set(hosts)
        self.doomed: set[str] = set()
        self.stop: str | None = None  # "end_batch", "end_play" or "abort"
        self.scope = Scope(play, play_hosts=tuple(play_hosts), batch=tuple(hosts))
        self.current: tuple[Task | None, Scope] = (None, self.scope)

    # -- structure --

    def execute(self) -> None:
        force = truth(self.play.force_handlers or False)
        for section in (self.play.pre_tasks, self.play.tasks, self.play.post_tasks):
            if self.stop or self.run.interrupted:
                break
            self.leave(self.run_items(section, self.scope, self.live()))
            if not self.stop:
                self.flush_handlers()
        if self.stop == "abort" and force:
            self.flush_handlers()

    def live(self) -> list[str]:
        return [h for h in self.hosts if h in self.active]

    def all_failed(self) -> bool:
        """Every host of the batch failed or was unreachable (hosts that ended are not failed)."""
        lost = self.run.failed | self.run.unreachable
        return all(h in lost for h in self.hosts)

    def run_items(self, items: tuple[Item, ...], scope: Scope, hosts: list[str]) -> set[str]:
        """Run items on hosts; returns the hosts that failed in them and were not rescued."""
        failed: set[str] = set()
        for item in items:
            if self.stop or self.run.interrupted:
                break
            current = [h for h in hosts if h in self.active and h not in failed]
            if not current:
                break
            if isinstance(item, Block):
                failed |= self.run_block(item, scope, current)
            else:
                failed |= self.run_task(item, scope, current)
        return failed

    def run_block(self, block: Block, scope: Scope, hosts: list[str]) -> set[str]:
        failed = self.run_items(block.block, scope.enter(block), hosts)
        if block.rescue:
            rescued = [h for h in hosts if h in failed and h in self.active]
            if rescued:
                failed -= set(rescued)
                rescue_scope = scope.enter(block, section="rescue")
                failed |= self.run_items(block.rescue, rescue_scope, rescued)
        if block.always:
            always_hosts = [h for h in hosts if h in self.active]
            failed |= self.run_items(
                block.always, scope.enter(block, section="always"), always_hosts
            )
        return failed

    def leave(self, hosts: set[str]) -> None:
        """Failed hosts leave the play (and the later plays of the run)."""
        for host in hosts:
            self.active.discard(host)
            self.run.failed.add(host)

    # -- one task --

    def run_task(self, task: Task, scope: Scope, hosts: list[str]) -> set[str]:
        if not should_run(scope.tags(task), self.ctx.options.tags, self.ctx.options.skip_tags):
            return set()
        self.current = (task, scope)
        if task.module == "meta":
            return self.run_meta(task, scope, hosts)
        self.ctx.reporter.on_task_start(self.shown(task, scope, hosts[0]))
        run_once = truth(scope.keyword(task, "run_once", False))
        targets = hosts[:1] if run_once else hosts
        results = self.run.map(targets, lambda h: self.run.execute(h, task, scope), task)
        if task.module == INCLUDE:
            return self.run_include(task, scope, results)
        failed = self.settle(task, scope, results)
        if run_once and targets:
            failed |= self.share_once(task, scope, hosts, results[targets[0]])
        if failed and scope.rescuing and truth(scope.keyword(task, "any_errors_fatal", False)):
            # As Ansible: any_errors_fatal sends every host of the block to its rescue.
            failed |= set(hosts)
        return failed

    def share_once(
        self, task: Task, scope: Scope, hosts: list[str], result: TaskResult
    ) -> set[str]:
        """run_once: the other hosts get the result (register, facts), failures included."""
        others = hosts[1:]
        for host in others:
            apply_result(self.ctx, host, task, result)
        if result.status != "failed":
            return set()
        # As Ansible: a run_once task that fails fails every host it stood for.
        self.mark_doomed(others, scope, task, rescuing=scope.rescuing)
        return set(others)

    def settle(self, task: Task, scope: Scope, results: dict[str, TaskResult]) -> set[str]:
        """Count, notify and fail hosts from one task's results; returns the failed hosts."""
        failed: set[str] = set()
        for host, result in results.items():
            self.run.stats.record(host, result, rescuing=scope.rescuing)
            if result.status == "changed" and task.notify:
                self._notify(host, task)
            if result.status == "unreachable":
                self.active.discard(host)
                self.run.unreachable.add(host)
                self.mark_doomed([host], scope, task, rescuing=False)
            elif result.status == "failed":
                failed.add(host)
                self.mark_doomed([host], scope, task, rescuing=scope.rescuing, result=result)
        self.check_abort(task, scope)
        return failed

    def _notify(self, host: str, task: Task) -> None:
        if not self.book.notify(host, task.notify):
            names = ", ".join(task.notify)
            self.ctx.reporter.on_warning(f"{task_title(task)}: no handler answers {names}")

    def mark_doomed(
        self,
        hosts: list[str],
        scope: Scope,
        task: Task,
        *,
        rescuing: bool,
        result: TaskResult | None = None,
    ) -> None:
        if rescuing:
            for host in hosts:
                self.ctx.variables.set_facts(host, _failed_facts(task, result))
            return
        fresh = [h for h in hosts if h not in self.doomed]
        self.doomed.update(fresh)
        if fresh:
            reason = f"{task_title(task)} failed"
            self.run.failure_handlers(self, fresh, scope.failure_handlers(task), reason)

    def check_abort(self, task: Task, scope: Scope) -> None:
        """any_errors_fatal and max_fail_percentage, checked after each task of the batch.

        Ansible's arithmetic (abort when lost / batch size > max_fail_percentage / 100),
        with one deliberate difference: unreachable hosts count as lost here, where
        ansible-playbook counts only failed ones. A host that drops off mid-release is
        a host the release did not reach, and it must spend the failure budget.
        """
        lost = [h for h in self.hosts if h in self.doomed]
        if not lost or self.stop == "abort":
            return
        if truth(scope.keyword(task, "any_errors_fatal", False)):
            self.abort(task, scope, "any_errors_fatal")
            return
        limit = self.play.max_fail_percentage
        if limit is not None and len(lost) / len(self.hosts) > float(limit) / 100.0:
            self.abort(task, scope, f"max_fail_percentage {limit}% exceeded")

    def abort(self, task: Task | None, scope: Scope, reason: str) -> None:
        """The play stops: every host of the batch fails; hosts that changed roll back."""
        self.stop = "abort"
        self.ctx.reporter.on_warning(f"play aborted: {reason}")
        for host in self.live():
            self.run.failed.add(host)
        self.rollback_changed(scope.failure_handlers(task), reason)

    def rollback_changed(self, names: tuple[str, ...], reason: str) -> None:
        """Failure handlers on every host of the play that changed something in this run."""
        changed = [h for h in self.play_hosts if h in self.run.changed]
        self.run.failure_handlers(self, changed, names, reason)

    def shown(self, task: Task, scope: Scope, host: str) -> Task:
        """The task as its banner shows it: a templated name rendered with the variables of
        the first host it runs on, as Ansible's linear strategy does; what cannot be rendered
        there (a loop var) shows as `<< error N - ... >>`, as in ansible-core."""
        if not is_template(task.name):
            return task
        try:
            templar = TaskRun(self.ctx, host, task, scope).templar
        except DeployplayError:
            return task  # the task itself will say what is wrong with the host's variables
        name, errors = templar.template_name(task.name)
        if errors:
            self.ctx.reporter.on_warning(
                f"Encountered {errors} template error{'s' * (errors != 1)}."
            )
        return replace(task, name=name)

    # -- meta, include_tasks, handlers --

    def run_meta(self, task: Task, scope: Scope, hosts: list[str]) -> set[str]:
        action = str(task.args.get("action", "noop"))
        if action == "flush_handlers":
            self.flush_handlers()
            return set()
        results = self.run.map(hosts, lambda h: execute_task(self.ctx, h, task, scope))
        chosen = [h for h, r in results.items() if r.status == "ok"]
        broken = {h: r for h, r in results.items() if r.failed}
        if broken:
            self.ctx.reporter.on_task_start(task)
            for host, result in broken.items():
                self.ctx.reporter.on_host_result(host, task, result)
            return self.settle(task, scope, broken)
        if action == "end_host":
            self.active.difference_update(chosen)
        elif action in ("end_batch", "end_play") and chosen:
            self.stop = action
        return set()

    def run_include(self, task: Task, scope: Scope, results: dict[str, TaskResult]) -> set[str]:
        # As ansible-playbook counts them: each file included on a host is one `ok`.
        failed = self.settle(task, scope, {h: r for h, r in results.items() if not _included_ok(r)})
        groups: dict[str, tuple[str, dict[str, Any], list[str]]] = {}
        for host, result in results.items():
            if result.status not in ("ok", "changed"):
                continue
            for part in result.items if result.items is not None else [result]:
                if part.status == "skipped" or "include" not in part.data:
                    continue
                path, loop_vars = part.data["include"], part.data["_include_vars"]
                key = f"{path}\0{sorted(loop_vars.items(), key=lambda kv: kv[0])!r}"
                groups.setdefault(key, (path, loop_vars, []))[2].append(host)
        for path, loop_vars, hosts in groups.values():
            failed |= self._included(task, scope, Path(path), loop_vars, hosts, failed)
        return failed

    def _included(
        self,
        task: Task,
        scope: Scope,
        path: Path,
        loop_vars: dict[str, Any],
        hosts: list[str],
        failed: set[str],
    ) -> set[str]:
        try:
            items = self.run.task_file(path, task)
        except UserError as exc:
            message = str(exc.at(task.location))
            broken = {h: TaskResult("failed", msg=message) for h in hosts}
            for host, result in broken.items():
                self.ctx.reporter.on_host_result(host, task, result)
            return self.settle(task, scope, broken)
        label = loop_vars.get(task.loop_control.loop_var) if loop_vars else None
        self.ctx.reporter.on_include(str(path), hosts, label)
        for host in hosts:
            self.run.stats.record(host, TaskResult("ok"))
        inner = scope.included((task.vars, loop_vars))
        live = [h for h in hosts if h in self.active and h not in failed]
        return self.run_items(items, inner, live)

    def flush_handlers(self) -> None:
        force = truth(self.play.force_handlers or False)

        def eligible(host: str) -> bool:
            if host in self.active:
                return True
            return force and host in self.hosts and host not in self.run.unreachable

        self.book.flush(self.run_handler, eligible)

    def run_handler(self, handler: Handler, hosts: list[str]) -> None:
        self.ctx.reporter.on_task_start(self.shown(handler, self.scope, hosts[0]), kind="handler")
        results = self.run.map(hosts, lambda h: self.run.execute(h, handler, self.scope), handler)
        self.leave(self.settle(handler, self.scope, results))


def _included_ok(result: TaskResult) -> bool:
    return result.status in ("ok", "changed")


def _failed_facts(task: Task, result: TaskResult | None) -> dict[str, Any]:
    """What a rescue section sees: ansible_failed_task and ansible_failed_result."""
    registered = result.registered() if result is not None else {"failed": True}
    return {
        "ansible_failed_task": {"name": task_title(task), "action": task.module},
        "ansible_failed_result": registered,
    }
