"""What a user sees: the Reporter protocol, the console reporter (ansible-playbook's look), fan-out.

The runner calls `reporter.on_*` for everything that happens; a reporter
never changes the run. `Reporter` is the protocol with do-nothing methods, so a
reporter overrides only what it shows. Reporters are called from the forks
pool's threads: each one serialises its own output.
"""

from __future__ import annotations

import difflib
import json
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from deployplay.runner.results import HostStats, TaskResult

if TYPE_CHECKING:
    from pathlib import Path

NO_LOG_MSG = (
    "the output has been hidden due to the fact that 'no_log: true' was specified for this result"
)
WIDTH = 80
PROGRESS_EVERY_S = 5.0


def task_title(task: Any) -> str:
    """A task's name as the user sees it: its name, or its module when it has none."""
    return str(getattr(task, "name", "") or getattr(task, "module", "") or "task")


def result_view(result: TaskResult, *, no_log: bool = False) -> dict[str, Any]:
    """The result as Ansible prints it after `=>`: changed, msg and the module's data."""
    if no_log:
        return {"censored": NO_LOG_MSG, "changed": result.changed}
    view: dict[str, Any] = {"changed": result.changed}
    if result.msg:
        view["msg"] = result.msg
    view.update({k: v for k, v in result.data.items() if not k.startswith("_")})
    if result.status == "unreachable":
        view["unreachable"] = True
    return view


def _diff_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=4, sort_keys=True, default=str) + "\n"


def render_diff(diff: Mapping[str, Any]) -> str:
    """One --diff entry as a unified diff, with Ansible's `before:`/`after:` headers."""
    before, after = _diff_text(diff.get("before", "")), _diff_text(diff.get("after", ""))
    if before == after:
        return ""
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"before: {diff.get('before_header', '')}".rstrip(": "),
        tofile=f"after: {diff.get('after_header', '')}".rstrip(": "),
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


class Reporter:
    """The protocol: one method a kind of event. The base does nothing."""

    def on_playbook_start(self, path: Path, run_id: str) -> None: ...

    def on_play_start(self, play: Any, hosts: Sequence[str]) -> None: ...

    def on_no_hosts_matched(self, play: Any) -> None: ...

    def on_task_start(self, task: Any, *, kind: str = "task") -> None:
        """kind: 'task', 'handler' or 'failure_handler'."""

    def on_host_result(
        self, host: str, task: Any, result: TaskResult, *, delegated_to: str | None = None
    ) -> None: ...

    def on_retry(self, host: str, task: Any, retries_left: int, result: TaskResult) -> None: ...

    def on_include(self, path: str, hosts: Sequence[str], item: Any = None) -> None: ...

    def on_no_hosts_left(self) -> None: ...

    def on_failure_handlers(self, hosts: Sequence[str], reason: str) -> None: ...

    def on_play_end(self, play: Any) -> None: ...

    def on_warning(self, message: str) -> None: ...

    def on_progress(self, host: str, task: Any, text: str) -> None: ...

    def on_output(self, host: str, line: str) -> None: ...

    def on_interrupted(self) -> None: ...

    def on_recap(self, stats: Mapping[str, HostStats], exit_code: int) -> None: ...


class FanOut(Reporter):
    """Sends every event to each of several reporters, in order."""

    def __init__(self, *reporters: Reporter) -> None:
        self.reporters = list(reporters)

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("on_"):
            targets = object.__getattribute__(self, "reporters")

            def fan_out(*args: Any, **kwargs: Any) -> None:
                for reporter in targets:
                    getattr(reporter, name)(*args, **kwargs)

            return fan_out
        return object.__getattribute__(self, name)


_COLOURS = {
    "ok": "32",
    "changed": "33",
    "failed": "31",
    "fatal": "31",
    "unreachable": "1;31",
    "skipped": "36",
    "ignored": "36",
    "rescued": "35",
    "warning": "1;35",
    "handler": "1;31",
}


def use_colour(stream: TextIO) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class ConsoleReporter(Reporter):
    """ansible-playbook's default output: banners, one line per host result, the PLAY RECAP."""

    def __init__(
        self, stream: TextIO | None = None, *, verbosity: int = 0, colour: bool | None = None
    ) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.verbosity = verbosity
        self.colour = use_colour(self.stream) if colour is None else colour
        self._lock = threading.RLock()
        self._progress_shown = False
        self._closed = False
        self._progress_last: dict[str, float] = {}

    # -- helpers ----------------------------------------------------------------

    def _paint(self, text: str, kind: str) -> str:
        code = _COLOURS.get(kind)
        return f"\x1b[{code}m{text}\x1b[0m" if self.colour and code else text

    def _write(self, text: str, kind: str | None = None) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                if self._progress_shown:
                    self.stream.write("\r\x1b[K")
                    self._progress_shown = False
                self.stream.write((self._paint(text, kind) if kind else text) + "\n")
                self.stream.flush()
            except BrokenPipeError:
                # The reader went away (`| head`): the deploy must go on all the same.
                self._closed = True

    def _banner(self, text: str, kind: str | None = None) -> None:
        stars = "*" * max(3, WIDTH - 1 - len(text))
        self._write(f"\n{text} {stars}", kind)

    def _dump(self, view: Mapping[str, Any], indent: int | None = None) -> str:
        return json.dumps(view, indent=indent, sort_keys=True, default=str, ensure_ascii=False)

    # -- events -----------------------------------------------------------------

    def on_play_start(self, play: Any, hosts: Sequence[str]) -> None:
        self._banner(f"PLAY [{getattr(play, 'name', '') or ','.join(hosts)}]")

    def on_no_hosts_matched(self, play: Any) -> None:
        self._write("skipping: no hosts matched", "skipped")

    def on_task_start(self, task: Any, *, kind: str = "task") -> None:
        label = {"handler": "RUNNING HANDLER", "failure_handler": "RUNNING FAILURE HANDLER"}
        title = label.get(kind, "TASK")
        self._banner(
            f"{title} [{task_title(task)}]", "handler" if kind == "failure_handler" else None
        )

    def on_host_result(
        self, host: str, task: Any, result: TaskResult, *, delegated_to: str | None = None
    ) -> None:
        no_log = result.no_log
        if getattr(task, "module", "") == "include_tasks" and result.status == "ok":
            return  # on_include says what an include did
        target = f"{host} -> {delegated_to}" if delegated_to and delegated_to != host else host
        if result.items is not None and result.status != "skipped":
            for item in result.items:
                self._item_line(target, task, item, no_log)
            if result.status == "ignored":
                self._write("...ignoring", "ignored")
            elif result.status == "unreachable":
                self._host_line(target, task, result, no_log)
            return
        self._host_line(target, task, result, no_log)

    def _host_line(self, target: str, task: Any, result: TaskResult, no_log: bool) -> None:
        view = result_view(result, no_log=no_log)
        status = result.status
        if status in ("failed", "ignored"):
            if self.verbosity >= 3 and "_exception" in result.data:
                self._write(f"The full traceback is:\n{result.data['_exception']}".rstrip())
            self._write(f"fatal: [{target}]: FAILED! => {self._dump(view)}", "fatal")
            if status == "ignored":
                self._write("...ignoring", "ignored")
            return
        if status == "unreachable":
            self._write(f"fatal: [{target}]: UNREACHABLE! => {self._dump(view)}", "unreachable")
            return
        word = {"ok": "ok", "changed": "changed", "skipped": "skipping"}[status]
        line = f"{word}: [{target}]"
        always = getattr(task, "module", "") == "debug" and status != "skipped"
        if always or self.verbosity >= 1:
            if always and not no_log:
                view = {k: v for k, v in result.data.items() if not k.startswith("_")}
            indent = 4 if always or self.verbosity > 2 else None
            line += f" => {self._dump(view, indent)}"
        self._write(line, status)
        self._diff(result)

    def _item_line(self, target: str, task: Any, item: TaskResult, no_log: bool) -> None:
        label = (
            "None"
            if no_log
            else str(item.data.get("_ansible_item_label", item.data.get("item", "")))
        )
        status = item.status
        if status in ("failed", "ignored", "unreachable"):
            view = result_view(item, no_log=no_log)
            self._write(f"failed: [{target}] (item={label}) => {self._dump(view)}", "failed")
            return
        word = {"ok": "ok", "changed": "changed", "skipped": "skipping"}[status]
        line = f"{word}: [{target}] => (item={label})"
        if status != "skipped" and not no_log and getattr(task, "module", "") == "debug":
            hidden = {"ansible_loop_var", "ansible_loop", item.data.get("ansible_loop_var")}
            shown = {k: v for k, v in item.data.items() if k not in hidden and k[:1] != "_"}
            line += f" => {self._dump(shown, 4)}"
        elif self.verbosity >= 1 and status != "skipped":
            line += f" => {self._dump(result_view(item, no_log=no_log))}"
        self._write(line, status)

    def _diff(self, result: TaskResult) -> None:
        if result.no_log:
            return
        for diff in result.diff or ():
            text = render_diff(diff)
            if text:
                self._write(text.rstrip("\n"))

    def on_retry(self, host: str, task: Any, retries_left: int, result: TaskResult) -> None:
        text = f"FAILED - RETRYING: [{host}]: {task_title(task)} ({retries_left} retries left)."
        self._write(text, "failed")

    def on_include(self, path: str, hosts: Sequence[str], item: Any = None) -> None:
        suffix = f" => (item={item})" if item is not None else ""
        self._write(f"included: {path} for {', '.join(hosts)}{suffix}", "skipped")

    def on_no_hosts_left(self) -> None:
        self._banner("NO MORE HOSTS LEFT")

    def on_failure_handlers(self, hosts: Sequence[str], reason: str) -> None:
        self._banner(f"FAILURE HANDLERS [{reason}] on {', '.join(hosts)}", "handler")

    def on_warning(self, message: str) -> None:
        self._write(f"[WARNING]: {message}", "warning")

    def on_progress(self, host: str, task: Any, text: str) -> None:
        line = f"[{host}] {task_title(task)}: {text}"
        with self._lock:
            if self.colour and not self._closed:
                # A terminal: one line redrawn in place.
                self.stream.write(f"\r\x1b[K{line[: WIDTH - 1]}")
                self.stream.flush()
                self._progress_shown = True
                return
            now = time.monotonic()
            if now - self._progress_last.get(host, 0.0) < PROGRESS_EVERY_S:
                return
            self._progress_last[host] = now
        self._write(f"  {line}")

    def on_output(self, host: str, line: str) -> None:
        if self.verbosity >= 2:
            self._write(f"  [{host}] {line}")

    def on_interrupted(self) -> None:
        self._write("\n[ERROR]: User interrupted execution", "failed")

    def on_recap(self, stats: Mapping[str, HostStats], exit_code: int) -> None:
        self._banner("PLAY RECAP")
        for host, counts in stats.items():
            self._write(self._recap_line(host, counts))
        self._write("")

    def _recap_line(self, host: str, counts: HostStats) -> str:
        kind = "ok"
        if counts.failed or counts.unreachable:
            kind = "failed"
        elif counts.changed:
            kind = "changed"
        name = self._paint(host, kind) if self.colour else host
        width = 26 + (len(name) - len(host))
        fields = []
        for label, value, colour in (
            ("ok", counts.ok, "ok"),
            ("changed", counts.changed, "changed"),
            ("unreachable", counts.unreachable, "unreachable"),
            ("failed", counts.failed, "failed"),
            ("skipped", counts.skipped, "skipped"),
            ("rescued", counts.rescued, "rescued"),
            ("ignored", counts.ignored, "ignored"),
        ):
            text = f"{label}={value:<4}"
            fields.append(self._paint(text, colour) if value and self.colour else text)
        return f"{name:<{width}} : {' '.join(fields)}"
