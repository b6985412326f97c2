"""The JSON report (`--report FILE.json`): a Reporter that collects the run, and the writer.

Shape (DESIGN.md "Reports and output"):

    {"version": 1, "run_id": "...", "started": "...", "finished": "...", "exit_code": 0,
     "plays": [{"name": "...", "hosts": ["web1"],
                "tasks": [{"name": "...", "module": "push", "handler": false,
                           "results": {"web1": {"status": "changed", "msg": "...",
                                                "duration_s": 0.41, "items": [...]}}}]}],
     "stats": {"web1": {"ok": 3, "changed": 2, ...}}}

Tasks appear in the order they ran: a task that runs again (next serial batch,
a handler flushed twice) appears again. `no_log` results keep their status
and hide their message.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deployplay.runner.reporting import NO_LOG_MSG, Reporter, task_title
from deployplay.runner.results import HostStats, TaskResult

REPORT_VERSION = 1


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _host_entry(result: TaskResult, no_log: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "status": result.status,
        "msg": NO_LOG_MSG if no_log and result.msg else result.msg,
        "duration_s": round(result.duration_s, 3),
    }
    if result.items is not None:
        entry["items"] = [_item_entry(item, no_log) for item in result.items]
    return entry


def _item_entry(item: TaskResult, no_log: bool) -> dict[str, Any]:
    entry = _host_entry(item, no_log)
    if not no_log and "_ansible_item_label" in item.data:
        entry["item"] = item.data["_ansible_item_label"]
    return entry


class JsonReport(Reporter):
    """Collects plays, tasks and per-host results as they happen; `document()` is the report."""

    def __init__(self, run_id: str = "", started: str | None = None) -> None:
        self.run_id = run_id
        self.started = started or _now()
        self.plays: list[dict[str, Any]] = []
        self._task: dict[str, Any] | None = None
        self.stats: dict[str, HostStats] = {}
        self._lock = threading.Lock()

    def on_playbook_start(self, path: Path, run_id: str) -> None:
        self.run_id = run_id

    def on_play_start(self, play: Any, hosts: Sequence[str]) -> None:
        with self._lock:
            name = getattr(play, "name", "") or ",".join(hosts)
            self.plays.append({"name": name, "hosts": list(hosts), "tasks": []})
            self._task = None

    def on_task_start(self, task: Any, *, kind: str = "task") -> None:
        entry = {
            "name": task_title(task),
            "module": str(getattr(task, "module", "")),
            "handler": kind != "task",
            "results": {},
        }
        with self._lock:
            if not self.plays:
                self.plays.append({"name": "", "hosts": [], "tasks": []})
            self.plays[-1]["tasks"].append(entry)
            self._task = entry

    def on_host_result(
        self, host: str, task: Any, result: TaskResult, *, delegated_to: str | None = None
    ) -> None:
        no_log = result.no_log
        with self._lock:
            if self._task is None:
                return
            self._task["results"][host] = _host_entry(result, no_log)

    def on_recap(self, stats: Mapping[str, HostStats], exit_code: int) -> None:
        self.stats = dict(stats)

    def document(self, exit_code: int) -> dict[str, Any]:
        stats = self.stats
        with self._lock:
            return {
                "version": REPORT_VERSION,
                "run_id": self.run_id,
                "started": self.started,
                "finished": _now(),
                "exit_code": exit_code,
                "plays": self.plays,
                "stats": {host: counts.as_dict() for host, counts in stats.items()},
            }


def write_report(path: Path, document: Mapping[str, Any]) -> None:
    """Write the report atomically: a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2, default=str)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
