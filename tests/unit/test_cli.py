"""The command line: commands, exit codes, one-line errors, the broken-playbook corpus."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deployplay import __version__
from deployplay.cli import main

ROOT = Path(__file__).resolve().parents[2]
BROKEN = ROOT / "tests" / "corpus" / "broken"
CASES = sorted(BROKEN.glob("*.yml"))

LOCAL_INVENTORY = """\
all:
  hosts:
    web1: {ansible_connection: local}
    web2: {ansible_connection: local}
  children:
    db:
      hosts:
        db1: {ansible_connection: local}
"""


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "inventory.yml").write_text(LOCAL_INVENTORY)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    return tmp_path


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_broken_playbook_is_one_line_exit_3(
    case: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(BROKEN)
    expected = case.with_suffix(".expected").read_text().strip()
    code, out, err = cli(capsys, "run", case.name, "-i", "localhost,")
    assert code == 3, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert expected in lines[0]
    assert "Traceback" not in err
    assert "TASK [" not in out


def test_version_is_fast_and_imports_only_click() -> None:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "deployplay", "--version"], capture_output=True, text=True
    )
    elapsed = time.monotonic() - started
    assert proc.stdout.strip() == f"deployplay {__version__}"
    assert elapsed < 2.0
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, deployplay.cli; "
            "print([m for m in ('yaml', 'jinja2', 'pydantic', 'deployplay.runner.play') "
            "if m in sys.modules])",
        ],
        capture_output=True,
        text=True,
    )
    assert probe.stdout.strip() == "[]"


def test_run_writes_the_report_and_exits_0(project: Path, capsys) -> None:
    (project / "play.yml").write_text(
        "- hosts: web1\n  tasks:\n    - name: hi\n      debug: {msg: hi}\n"
    )
    code, out, _ = cli(capsys, "run", "play.yml", "-i", "inventory.yml", "--report", "r.json")
    assert code == 0
    assert "TASK [hi] ***" in out
    assert "PLAY RECAP" in out
    report = json.loads((project / "r.json").read_text())
    assert report["version"] == 1
    assert report["exit_code"] == 0
    task = report["plays"][0]["tasks"][0]
    assert task["module"] == "debug"
    assert task["results"]["web1"]["status"] == "ok"
    assert report["stats"]["web1"]["ok"] == 1


def test_no_log_hides_everywhere_but_register_works(project: Path, capsys) -> None:
    (project / "play.yml").write_text(
        "- hosts: web1\n  tasks:\n"
        "    - name: secret\n      command: echo s3cr3t\n      no_log: true\n      register: r\n"
        "    - name: use it\n      assert: {that: [\"r.stdout == 's3cr3t'\"]}\n"
    )
    code, out, _ = cli(
        capsys, "run", "play.yml", "-i", "inventory.yml", "-vvv", "--report", "r.json"
    )
    assert code == 0
    assert "s3cr3t" not in out.replace("echo s3cr3t", "")
    assert "s3cr3t" not in (project / "r.json").read_text()


def test_failed_host_exits_2_and_unreachable_exits_4(project: Path, capsys) -> None:
    (project / "play.yml").write_text(
        "- hosts: all\n  tasks:\n    - fail: {msg: boom}\n"
        "      when: inventory_hostname == 'web2'\n"
    )
    code, out, _ = cli(capsys, "run", "play.yml", "-i", "inventory.yml")
    assert code == 2
    assert 'fatal: [web2]: FAILED! => {"changed": false, "msg": "boom"}' in out
    (project / "inventory.yml").write_text(
        LOCAL_INVENTORY
        + "    gone:\n      hosts:\n        dead: {ansible_host: 127.0.0.1, ansible_port: 1}\n"
    )
    (project / "play.yml").write_text("- hosts: all\n  tasks:\n    - command: 'true'\n")
    code, out, _ = cli(capsys, "run", "play.yml", "-i", "inventory.yml")
    assert code == 4
    assert "fatal: [dead]: UNREACHABLE!" in out


def test_usage_error_exits_3(capsys) -> None:
    code, _, err = cli(capsys, "run", "--no-such-option", "x.yml")
    assert code == 3
    assert "no such option" in err.lower()


def test_missing_inventory_exits_3(project: Path, capsys) -> None:
    (project / "play.yml").write_text("- hosts: all\n  tasks: []\n")
    code, _, err = cli(capsys, "run", "play.yml", "-i", "nowhere")
    assert code == 3
    assert err.startswith("error: ")


def test_internal_error_exits_1_with_a_log_file(
    project: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    import deployplay.runner.launch as launch

    def broken(*_args, **_kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(launch, "launch_run", broken)
    code, _, err = cli(capsys, "run", "play.yml")
    assert code == 1
    log = Path(err.split("the traceback is in ")[1].strip())
    assert "RuntimeError: a bug" in log.read_text()
    log.unlink()


def test_check_touches_no_host(project: Path, capsys) -> None:
    (project / "play.yml").write_text(
        "- hosts: web1\n  tasks:\n    - command: touch {{ playbook_dir }}/touched\n"
    )
    code, out, _ = cli(capsys, "check", "play.yml", "-i", "inventory.yml")
    assert code == 0
    assert "ok (1 play, 1 tasks)" in out
    assert not (project / "touched").exists()
    code, _, err = cli(capsys, "check", "play.yml", "-i", "localhost,")
    assert code == 3
    assert "web1" in err


def test_list_hosts_with_limit(project: Path, capsys) -> None:
    code, out, _ = cli(capsys, "list-hosts", "-i", "inventory.yml")
    assert (code, out.split()) == (0, ["web1", "web2", "db1"])
    code, out, _ = cli(capsys, "list-hosts", "-i", "inventory.yml", "--limit", "web*")
    assert out.split() == ["web1", "web2"]
    code, out, _ = cli(capsys, "list-hosts", "-i", "inventory.yml", "db")
    assert out.split() == ["db1"]


def test_modules_and_doc(capsys) -> None:
    code, out, _ = cli(capsys, "modules")
    assert code == 0
    debug_line = next(line for line in out.splitlines() if line.startswith("debug "))
    assert "built-in" in debug_line
    code, out, _ = cli(capsys, "doc", "debug")
    assert code == 0
    assert "Arguments:" in out
    assert "  msg: " in out
    code, _, err = cli(capsys, "doc", "debgu")
    assert code == 3
    assert "debug" in err


def test_ctrl_c_runs_failure_handlers_and_exits_99(project: Path) -> None:
    (project / "play.yml").write_text(
        "- hosts: web1,web2\n  on_failure: [rollback]\n  tasks:\n"
        "    - name: change\n      command: 'true'\n"
        "    - name: slow\n      command: sleep 2\n"
        "  handlers:\n    - name: rollback\n      debug: {msg: rolled back}\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "deployplay", "run", "play.yml", "-i", "inventory.yml"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:  # bounded: the playbook ends by itself within seconds
        seen.append(line)
        if line.startswith("TASK [slow]"):
            break
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=30)
    out = "".join(seen) + rest
    assert proc.returncode == 99, out
    assert "RUNNING FAILURE HANDLER [rollback]" in out
    assert "PLAY RECAP" in out


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_check_reports_broken_playbooks_too(
    case: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(BROKEN)
    expected = case.with_suffix(".expected").read_text().strip()
    code, _out, err = cli(capsys, "check", case.name, "-i", "localhost,")
    assert code == 3, err
    assert expected in err
    assert "Traceback" not in err
