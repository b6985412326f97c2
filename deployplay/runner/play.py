"""Plays x batches x tasks: the linear strategy, the one forks pool, failure handlers, Ctrl-C.

`run_playbook(ctx, playbook) -> exit code`. Within a batch each task runs on
every live host in parallel (the forks pool, --forks), and the next task
starts when all have answered (batch.py). A host that fails leaves the play
and the later plays; a batch in which every host failed, `any_errors_fatal`
or `max_fail_percentage` stop the playbook, as ansible-playbook does.

Exit code: 99 interrupted; 4 a host unreachable (it wins over failed, as in
ansible-playbook); 2 a host failed or a failure handler failed; 0 otherwise.
"""

from __future__ import annotations

import threading
import time
from collections import ChainMap
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deployplay.errors import DeployplayError, Interrupted
from deployplay.runner import keyword_values as kv
from deployplay.runner.batch import BatchRun
from deployplay.runner.batches import serial_batches
from deployplay.runner.executor import execute_task
from deployplay.runner.handlers import HandlerBook, failure_handlers
from deployplay.runner.model import Block, Play, Playbook, Task, load_task_file
from deployplay.runner.reporting import NO_LOG_MSG, task_title
from deployplay.runner.results import TaskResult
from deployplay.runner.scope import Scope
from deployplay.runner.stats import RunStats
from deployplay.runner.templating import Templar, is_template

if TYPE_CHECKING:
    from deployplay.runner.context import RunContext

EXIT_OK, EXIT_FAILED, EXIT_UNREACHABLE, EXIT_INTERRUPTED = 0, 2, 4, 99
# After Ctrl-C, how long tasks already running get to finish before failure handlers start.
INTERRUPT_GRACE_S = 30.0
STILL_RUNNING_EVERY_S = 15.0


def hosts_pattern(play: Play, extra_vars: Mapping[str, Any]) -> Any:
    """The play's `hosts:`, templated with the play's and the extra vars when it is a template."""
    if isinstance(play.hosts, str) and is_template(play.hosts):
        try:
            return Templar(ChainMap(dict(extra_vars), play.vars or {})).template(play.hosts)
        except DeployplayError as exc:
            raise exc.at(play.location) from None
    return play.hosts


def rendered_play(play: Play, extra_vars: Mapping[str, Any]) -> Play:
    """The play with `serial` and `max_fail_percentage` rendered with the play's and the extra
    vars, as Ansible renders them before it makes the batches."""
    serial, limit = play.serial, play.max_fail_percentage
    if not is_template(str(serial)) and not is_template(str(limit)):
        return play
    templar = Templar(ChainMap(dict(extra_vars), play.vars or {}))
    try:
        if serial is not None and is_template(str(serial)):
            serial = kv.rendered_serial(templar.template(list(serial)))
        if is_template(str(limit)):
            limit = kv.rendered_percentage(templar.template(limit))
    except DeployplayError as exc:
        raise exc.at(play.location) from None
    return replace(play, serial=serial, max_fail_percentage=limit)


def run_playbook(ctx: RunContext, playbook: Playbook) -> int:
    """Run every play of the playbook; returns the exit code."""
    return PlaybookRun(ctx).run(playbook)


class PlaybookRun:
    """What lasts for the whole run: the forks pool, the tallies, which hosts failed or changed."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.stats = RunStats()
        self.failed: set[str] = set()
        self.unreachable: set[str] = set()
        self.changed: set[str] = set()
        self.failure_handled: set[str] = set()
        self.rollback_failed = False
        self.interrupted = False
        self._pool = ThreadPoolExecutor(max_workers=max(1, ctx.options.forks))
        self._task_files: dict[Path, tuple[Task | Block, ...]] = {}
        self._lock = threading.Lock()

    def run(self, playbook: Playbook) -> int:
        self.ctx.reporter.on_playbook_start(playbook.path, self.ctx.run_state.run_id)
        try:
            for play in playbook.plays:
                if not PlayRun(self, play).execute():
                    break
        except Interrupted:
            self.interrupted = True
        finally:
            self._cleanups()
            self.ctx.connections.close_all()
            self._pool.shutdown(wait=False, cancel_futures=True)
        code = self.exit_code()
        self.ctx.reporter.on_recap(self.stats.sorted(), code)
        return code

    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        if self.unreachable:
            return EXIT_UNREACHABLE
        if self.failed or self.rollback_failed:
            return EXIT_FAILED
        return EXIT_OK

    # -- the one forks pool --

    def map(
        self, hosts: list[str], work: Callable[[str], TaskResult], task: Task | None = None
    ) -> dict[str, TaskResult]:
        """Run `work` for each host in parallel; results in host order once all have answered."""
        futures = [self._pool.submit(work, host) for host in hosts]
        try:
            self._wait(hosts, futures, task)
        except KeyboardInterrupt:
            # Stop starting tasks; the ones already running get a grace period to answer.
            self.ctx.interrupted.set()
            for future in futures:
                future.cancel()
            wait(futures, timeout=INTERRUPT_GRACE_S)
            raise
        return {host: future.result() for host, future in zip(hosts, futures, strict=True)}

    def _wait(self, hosts: list[str], futures: list[Future[TaskResult]], task: Task | None) -> None:
        """Wait for every host; a task still running on some after a while says so."""
        started = time.monotonic()
        pending = set(futures)
        while pending:
            _done, pending = wait(pending, timeout=STILL_RUNNING_EVERY_S)
            if pending and task is not None:
                waited = time.monotonic() - started
                for host, future in zip(hosts, futures, strict=True):
                    if future in pending:
                        self.ctx.reporter.on_progress(host, task, f"still running ({waited:.0f}s)")

    def execute(self, host: str, task: Task, scope: Scope) -> TaskResult:
        """One task on one host, shown as soon as it answers; remembers hosts that changed."""
        result = execute_task(self.ctx, host, task, scope)
        if result.changed:
            with self._lock:
                self.changed.add(host)
        delegated = result.data.get("_delegated_to")
        self.ctx.reporter.on_host_result(host, task, result, delegated_to=delegated)
        return result

    def task_file(self, path: Path, task: Task) -> tuple[Task | Block, ...]:
        """An include_tasks file, loaded once per run."""
        key = path.resolve()
        if key not in self._task_files:
            self._task_files[key] = load_task_file(
                path, self.ctx.registry, task.location, playbook_dir=self.ctx.playbook_dir
            )
        return self._task_files[key]

    # -- failure handlers --

    def failure_handlers(
        self, batch: BatchRun, hosts: list[str], names: tuple[str, ...], reason: str
    ) -> None:
        """Run the named failure handlers on hosts that have not had theirs yet."""
        handlers = failure_handlers(batch.play, names)
        with self._lock:
            targets = [h for h in hosts if h not in self.failure_handled]
            if handlers:
                self.failure_handled.update(targets)
        if not handlers or not targets:
            return
        self.ctx.reporter.on_failure_handlers(targets, reason)
        for handler in handlers:
            self.ctx.reporter.on_task_start(
                batch.shown(handler, batch.scope, targets[0]), kind="failure_handler"
            )
            results = self.map(
                targets, lambda h, t=handler: self.execute(h, t, batch.scope), handler
            )
            for host, result in results.items():
                self.stats.record(host, result)
                if result.status in ("failed", "unreachable"):
                    self.rollback_failed = True
                    msg = NO_LOG_MSG if result.no_log else result.msg
                    self.ctx.reporter.on_warning(
                        f"FAILURE HANDLER '{task_title(handler)}' FAILED on {host}: {msg} "
                        "-- this host may be left half-changed: check it by hand"
                    )

    def _cleanups(self) -> None:
        """RunState cleanups (lock release), latest first; each one's failure is a warning."""
        for host, description, action in self.ctx.run_state.take_cleanups():
            try:
                action()
            except Exception as exc:  # a cleanup must never hide the recap
                self.ctx.reporter.on_warning(f"{host}: {description} failed: {exc}")


class PlayRun:
    """One play: its hosts, its batches, its handlers."""

    def __init__(self, run: PlaybookRun, play: Play) -> None:
        self.run = run
        self.ctx = run.ctx
        self.play = rendered_play(play, run.ctx.options.extra_vars)

    def execute(self) -> bool:
        """Run the play; False when the playbook must stop (abort, or a whole batch failed)."""
        reporter = self.ctx.reporter
        pattern = hosts_pattern(self.play, self.ctx.options.extra_vars)
        selected = self.ctx.inventory.select(pattern, self.ctx.options.limit)
        hosts = [h.name for h in selected]
        reporter.on_play_start(self.play, hosts)
        if not hosts:
            reporter.on_no_hosts_matched(self.play)
            return True
        live = [h for h in hosts if h not in self.run.failed and h not in self.run.unreachable]
        book = HandlerBook(self.play)
        try:
            for batch_hosts in serial_batches(live, self.play.serial):
                batch = BatchRun(self.run, self.play, batch_hosts, hosts, book)
                self._run_batch(batch)
                if batch.stop == "end_play":
                    break
                if batch.stop == "abort" or batch.all_failed():
                    reporter.on_no_hosts_left()
                    return False
        finally:
            reporter.on_play_end(self.play)
        return True

    def _run_batch(self, batch: BatchRun) -> None:
        try:
            batch.execute()
        except KeyboardInterrupt:
            self._interrupted(batch)
            raise Interrupted("interrupted") from None

    def _interrupted(self, batch: BatchRun) -> None:
        """Ctrl-C: no new tasks; hosts that changed something get their failure handlers."""
        self.run.interrupted = True
        self.ctx.reporter.on_interrupted()
        # Failure handlers must run in full (their loops and retries check this event).
        self.ctx.interrupted.clear()
        task, scope = batch.current
        try:
            batch.rollback_changed(scope.failure_handlers(task), "interrupted")
        except KeyboardInterrupt:
            self.ctx.reporter.on_warning("interrupted again: failure handlers stopped")
