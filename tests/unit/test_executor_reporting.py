"""Console output in ansible-playbook's layout, the recap counts, the JSON report."""

from __future__ import annotations

import io
import json
from pathlib import Path

from deployplay.runner.model import Play, Task
from deployplay.runner.report import NO_LOG_MSG, JsonReport, write_report
from deployplay.runner.reporting import ConsoleReporter, FanOut, Reporter
from deployplay.runner.results import HostStats, TaskResult
from deployplay.runner.stats import RunStats

TASK = Task(name="deploy", module="command")
DEBUG = Task(name="say", module="debug")


def console(verbosity: int = 0) -> tuple[ConsoleReporter, io.StringIO]:
    stream = io.StringIO()
    return ConsoleReporter(stream, verbosity=verbosity, colour=False), stream


def test_banners_are_80_columns() -> None:
    reporter, stream = console()
    reporter.on_play_start(Play(name="web", hosts="all"), ["web1"])
    reporter.on_task_start(TASK)
    reporter.on_task_start(TASK, kind="handler")
    lines = [line for line in stream.getvalue().splitlines() if line]
    assert lines[0].startswith("PLAY [web] ***")
    assert lines[1].startswith("TASK [deploy] ***")
    assert lines[2].startswith("RUNNING HANDLER [deploy] ***")
    assert all(len(line) == 80 for line in lines)


def test_host_result_lines() -> None:
    reporter, stream = console()
    reporter.on_host_result("web1", TASK, TaskResult("ok"))
    reporter.on_host_result("web1", TASK, TaskResult("changed", changed=True))
    reporter.on_host_result("web1", TASK, TaskResult("skipped"))
    reporter.on_host_result("web1", TASK, TaskResult("failed", msg="boom"))
    reporter.on_host_result("web1", TASK, TaskResult("ignored", msg="meh"))
    reporter.on_host_result("web1", TASK, TaskResult("unreachable", msg="gone"))
    reporter.on_host_result("web1", TASK, TaskResult("ok"), delegated_to="localhost")
    assert stream.getvalue().splitlines() == [
        "ok: [web1]",
        "changed: [web1]",
        "skipping: [web1]",
        'fatal: [web1]: FAILED! => {"changed": false, "msg": "boom"}',
        'fatal: [web1]: FAILED! => {"changed": false, "msg": "meh"}',
        "...ignoring",
        'fatal: [web1]: UNREACHABLE! => {"changed": false, "msg": "gone", "unreachable": true}',
        "ok: [web1 -> localhost]",
    ]


def test_debug_always_shows_its_message_and_verbose_shows_results() -> None:
    reporter, stream = console()
    reporter.on_host_result("web1", DEBUG, TaskResult("ok", msg="hi", data={"msg": "hi"}))
    assert stream.getvalue() == 'ok: [web1] => {\n    "msg": "hi"\n}\n'
    reporter, stream = console(verbosity=1)
    reporter.on_host_result("web1", TASK, TaskResult("ok", data={"rc": 0}))
    assert stream.getvalue() == 'ok: [web1] => {"changed": false, "rc": 0}\n'


def test_loop_items_and_no_log() -> None:
    reporter, stream = console()
    items = [
        TaskResult("changed", changed=True, data={"_ansible_item_label": "a"}),
        TaskResult("skipped", data={"_ansible_item_label": "b"}),
    ]
    reporter.on_host_result("web1", TASK, TaskResult("changed", changed=True, items=items))
    secret = TaskResult("failed", msg="password=hunter2", no_log=True)
    reporter.on_host_result("web1", TASK, secret)
    out = stream.getvalue()
    assert "changed: [web1] => (item=a)" in out
    assert "skipping: [web1] => (item=b)" in out
    assert "hunter2" not in out
    assert "no_log: true" in out


def test_recap_layout_matches_ansible() -> None:
    reporter, stream = console()
    reporter.on_recap({"web1": HostStats(ok=2, changed=1)}, 0)
    line = next(x for x in stream.getvalue().splitlines() if x.startswith("web1"))
    assert line == (
        "web1                       : ok=2    changed=1    unreachable=0    failed=0    "
        "skipped=0    rescued=0    ignored=0   "
    )


def test_recap_counting_rules() -> None:
    stats = RunStats()
    stats.record("h", TaskResult("changed", changed=True))
    stats.record("h", TaskResult("ignored", changed=True))
    stats.record("h", TaskResult("failed"), rescuing=True)
    stats.record("h", TaskResult("failed"))
    stats.record("h", TaskResult("skipped"))
    stats.record("h", TaskResult("unreachable"))
    assert stats.sorted()["h"].as_dict() == {
        "ok": 2,
        "changed": 2,
        "failed": 1,
        "skipped": 1,
        "unreachable": 1,
        "rescued": 1,
        "ignored": 1,
    }


def test_json_report_shape(tmp_path: Path) -> None:
    report = JsonReport("run1")
    fan = FanOut(Reporter(), report)
    fan.on_play_start(Play(name="web", hosts="all"), ["web1", "web2"])
    fan.on_task_start(TASK)
    fan.on_host_result(
        "web1", TASK, TaskResult("changed", msg="done", changed=True, duration_s=0.41)
    )
    items = [TaskResult("ok", data={"_ansible_item_label": "x"})]
    fan.on_host_result("web2", TASK, TaskResult("ok", items=items))
    fan.on_task_start(TASK, kind="handler")
    fan.on_host_result("web1", TASK, TaskResult("failed", msg="secret", no_log=True))
    fan.on_recap({"web1": HostStats(ok=1, changed=1)}, 2)
    write_report(tmp_path / "r.json", report.document(2))
    document = json.loads((tmp_path / "r.json").read_text())
    assert set(document) == {
        "version",
        "run_id",
        "started",
        "finished",
        "exit_code",
        "plays",
        "stats",
    }
    assert (document["version"], document["run_id"], document["exit_code"]) == (1, "run1", 2)
    play = document["plays"][0]
    assert play["name"] == "web"
    assert play["hosts"] == ["web1", "web2"]
    first, handler = play["tasks"]
    assert first["module"] == "command"
    assert first["handler"] is False
    assert first["results"]["web1"] == {"status": "changed", "msg": "done", "duration_s": 0.41}
    assert first["results"]["web2"]["items"] == [
        {"status": "ok", "msg": "", "duration_s": 0.0, "item": "x"}
    ]
    assert handler["handler"] is True
    assert handler["results"]["web1"]["msg"] == NO_LOG_MSG
    assert document["stats"]["web1"]["changed"] == 1


def test_diff_is_a_unified_diff_with_ansible_headers() -> None:
    reporter, stream = console()
    diff = [
        {"before": "old\n", "after": "new\n", "before_header": "/srv/a", "after_header": "/srv/a"}
    ]
    reporter.on_host_result("web1", TASK, TaskResult("changed", changed=True, diff=diff))
    assert stream.getvalue().splitlines() == [
        "changed: [web1]",
        "--- before: /srv/a",
        "+++ after: /srv/a",
        "@@ -1 +1 @@",
        "-old",
        "+new",
    ]


class ClosedPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_output_pipe_does_not_stop_the_run() -> None:
    reporter = ConsoleReporter(ClosedPipe(), colour=False)
    reporter.on_task_start(TASK)
    reporter.on_host_result("web1", TASK, TaskResult("ok"))
    assert reporter._closed is True
