"""Helper (not a test): run a scenario with real ansible-playbook and compare the exit code and
the PLAY RECAP with expected.yml. Ansible is a reference only; deliberate differences are
noted in the scenario's playbook comments.

    ANSIBLE_PLAYBOOK=/tmp/ansible-venv/bin/ansible-playbook \
        .venv/bin/python tests/scenarios/ansible_reference.py tests/scenarios/*/
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

RECAP = re.compile(r"^(\S+)\s+:\s+(.*)$")
BANNER = re.compile(r"^(TASK|RUNNING HANDLER) \[(.*)\] \*+$")
LINE = re.compile(r"^(ok|changed|skipping|fatal|failed): \[([^\]\s]+)[^\]]*\](:? .*)?$")
INCLUDED = re.compile(r"^included: .* for ([^=]+?)(?: => .*)?$")
WORDS = {"ok": "ok", "changed": "changed", "skipping": "skipped", "failed": "failed"}


def ansible_tasks(output: str) -> list[dict]:
    """The task sequence and per-host statuses read back from ansible-playbook's output."""
    tasks: list[dict] = []
    items: dict[str, list[str]] = {}

    def close() -> None:
        for host, statuses in items.items():
            tasks[-1]["results"][host] = _fold(statuses)
        items.clear()

    for line in output.splitlines():
        banner = BANNER.match(line)
        if banner:
            if tasks:
                close()
            entry = {"name": banner.group(2), "results": {}}
            if banner.group(1) == "RUNNING HANDLER":
                entry["handler"] = True
            tasks.append(entry)
            continue
        if not tasks:
            continue
        results = tasks[-1]["results"]
        included = INCLUDED.match(line)
        if included:
            for host in included.group(1).split(", "):
                results.setdefault(host, "ok")
            continue
        if line == "...ignoring":
            host = list(results)[-1] if results else None
            if host:
                results[host] = "ignored"
            continue
        match = LINE.match(line)
        if not match:
            continue
        word, host, rest = match.group(1), match.group(2), match.group(3) or ""
        if word == "fatal":
            results[host] = "unreachable" if "UNREACHABLE!" in rest else "failed"
        elif "(item=" in rest:
            items.setdefault(host, []).append(WORDS[word])
        else:
            results[host] = WORDS[word]
    if tasks:
        close()
    return [t for t in tasks if t["results"]]


def _fold(statuses: list[str]) -> str:
    if "failed" in statuses:
        return "failed"
    if all(s == "skipped" for s in statuses):
        return "skipped"
    return "changed" if "changed" in statuses else "ok"


def ansible_run(directory: Path, args: list[str]) -> tuple[int, dict[str, dict[str, int]], str]:
    binary = os.environ.get("ANSIBLE_PLAYBOOK", "ansible-playbook")
    python = str(Path(binary).parent / "python")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "SCENARIO_TMP": tmp}
        env["ANSIBLE_LOCALHOST_WARNING"] = "0"
        command = [binary, "-i", "inventory.yml", "playbook.yml", *args]
        command += ["-e", f"ansible_python_interpreter={python}"]
        proc = subprocess.run(command, cwd=directory, capture_output=True, text=True, env=env)
    stats: dict[str, dict[str, int]] = {}
    in_recap = False
    for line in proc.stdout.splitlines():
        if line.startswith("PLAY RECAP"):
            in_recap = True
            continue
        match = RECAP.match(line) if in_recap else None
        if match:
            pairs = dict(part.split("=") for part in match.group(2).split())
            stats[match.group(1)] = {k: int(v) for k, v in pairs.items()}
    return proc.returncode, stats, proc.stdout + proc.stderr


def compare(directory: Path) -> bool:
    expected = yaml.safe_load((directory / "expected.yml").read_text()) or {}
    code, stats, output = ansible_run(directory, [str(a) for a in expected.get("args", [])])
    problems = []
    if code != expected.get("exit_code"):
        problems.append(f"exit code: ansible {code}, expected {expected.get('exit_code')}")
    for host, counts in (expected.get("stats") or {}).items():
        theirs = stats.get(host, {})
        theirs = {"failed" if k == "failures" else k: v for k, v in theirs.items()}
        diff = {k: (theirs.get(k), v) for k, v in counts.items() if theirs.get(k) != v}
        if diff:
            problems.append(f"{host} (ansible, ours): {diff}")
    ours = [{k: v for k, v in t.items() if k != "handler" or v} for t in expected.get("tasks", [])]
    theirs = ansible_tasks(output)
    if ours != theirs:
        problems.append(f"tasks differ:\n      ansible: {theirs}\n      ours:    {ours}")
    print(f"{directory.name}: {'same' if not problems else 'DIFFERENT'}")
    for problem in problems:
        print(f"    {problem}")
    if problems and os.environ.get("SHOW"):
        print(output)
    return not problems


if __name__ == "__main__":
    results = [compare(Path(arg)) for arg in sys.argv[1:]]
    sys.exit(0 if all(results) else 1)
