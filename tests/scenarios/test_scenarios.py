"""Playbook-level tests as data: each tests/scenarios/<feature>/ holds a playbook, an inventory
of local-connection hosts and expected.yml; one parametrised test runs each through the CLI.

expected.yml:

    args: [--tags, deploy]          # optional extra command-line arguments
    exit_code: 2
    tasks:                          # every task that ran, in order, across plays
      - {name: build, results: {web1: changed, web2: ok}}
      - {name: restart, handler: true, results: {web1: changed}}
    stats:                          # optional: the recap counts of some hosts
      web1: {ok: 2, changed: 1, failed: 0}
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

HERE = Path(__file__).parent
SCENARIOS = sorted(p.parent for p in HERE.glob("*/expected.yml"))


def run_scenario(directory: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], Any]:
    path = directory / "expected.yml"
    expected = (yaml.safe_load(path.read_text()) if path.exists() else None) or {}
    report = tmp_path / "report.json"
    command = [sys.executable, "-m", "deployplay", "run", "playbook.yml", "-i", "inventory.yml"]
    command += ["--report", str(report), *map(str, expected.get("args", []))]
    env = {**os.environ, "NO_COLOR": "1", "SCENARIO_TMP": str(tmp_path)}
    proc = subprocess.run(
        command, cwd=directory, capture_output=True, text=True, timeout=120, env=env
    )
    return proc, expected


def observed_tasks(report: dict[str, Any]) -> list[dict[str, Any]]:
    tasks = []
    for play in report["plays"]:
        for task in play["tasks"]:
            entry: dict[str, Any] = {"name": task["name"]}
            if task["handler"]:
                entry["handler"] = True
            entry["results"] = {host: r["status"] for host, r in task["results"].items()}
            tasks.append(entry)
    return tasks


@pytest.mark.parametrize("directory", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_scenario(directory: Path, tmp_path: Path) -> None:
    proc, expected = run_scenario(directory, tmp_path)
    output = f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, output
    assert proc.returncode == expected["exit_code"], output
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["exit_code"] == expected["exit_code"]
    expected_tasks = [
        {k: v for k, v in task.items() if k != "handler" or v} for task in expected["tasks"]
    ]
    assert observed_tasks(report) == expected_tasks, output
    for host, counts in (expected.get("stats") or {}).items():
        observed = report["stats"][host]
        assert {k: observed[k] for k in counts} == counts, f"stats of {host}\n{output}"
