"""test: run the project's test suite on the controller before releasing."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

from pydantic import Field

from deployplay.modules.base import Module, ModuleArgs, ModuleContext, ModuleResult
from deployplay.runner.results import tail

# pytest's last line: "==== 3 failed, 10 passed, 1 skipped in 0.52s ====" (or -q without bars).
_PYTEST_COUNT = re.compile(
    r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed|deselected|warnings?)\b"
)
_PYTEST_SUMMARY = re.compile(r"^=*\s*(?:\d+ \w+(?:, )?)+.* in [\d.]+s")


class Test(Module):
    """Run the test command on the controller; a non-zero exit fails the task.

    The output is shown live at -v and kept in the result (`stdout`); a
    failure shows its tail. Pass/fail/skip counts come from pytest's summary
    line or from a JUnit XML file (`junit_xml`).

        - test:
            cmd: .venv/bin/pytest -q
            cwd: "{{ playbook_dir }}/.."
            timeout: 600
          delegate_to: localhost
          run_once: true
    """

    name = "test"
    __test__ = False  # not a pytest test class, despite its name
    supports_check_mode = True
    read_only = True
    runs_on = "controller"
    free_form = "cmd"

    class Args(ModuleArgs):
        cmd: str | list[str] = Field(description="a shell command, or an argv list")
        cwd: str | None = Field(None, description="default: the playbook directory")
        env: dict[str, str] = Field(default_factory=dict)
        timeout: float | None = Field(None, gt=0, description="seconds; stopped after")
        junit_xml: str | None = Field(None, description="read the counts from this file")

    def run(self, ctx: ModuleContext, args: Args) -> ModuleResult:
        cwd = Path(args.cwd) if args.cwd else ctx.playbook_dir
        if not cwd.is_absolute():
            cwd = ctx.playbook_dir / cwd
        show = ctx.output if ctx.verbosity >= 1 else None
        started = time.monotonic()
        try:
            exit_code, output, timed_out = run_streaming(
                args.cmd, cwd, {**ctx.environment, **args.env}, args.timeout, show
            )
        except OSError as exc:
            return ModuleResult(failed=True, msg=f"cannot run {args.cmd!r} in {cwd}: {exc}")
        duration = time.monotonic() - started
        counts = _counts(output, cwd, args.junit_xml)
        data = {"rc": exit_code, "stdout": output, "counts": counts, "duration_s": duration}
        summary = _summary(counts)
        if timed_out:
            return ModuleResult(
                failed=True,
                msg=f"tests timed out after {args.timeout:g}s\n{tail(output)}",
                data=data,
            )
        if exit_code != 0:
            return ModuleResult(
                failed=True,
                msg=f"tests failed (exit code {exit_code}){summary}\n{tail(output)}",
                data=data,
            )
        return ModuleResult(msg=f"tests passed in {duration:.1f}s{summary}", data=data)


def run_streaming(
    cmd: str | list[str],
    cwd: Path,
    env: dict[str, str],
    timeout: float | None,
    show: Callable[[str], None] | None,
) -> tuple[int, str, bool]:
    """Run the command, passing each output line to `show`; (exit code, output, timed out)."""
    proc = subprocess.Popen(
        cmd,
        shell=isinstance(cmd, str),
        cwd=cwd,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # so a timeout stops the whole suite, not just the shell
    )
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            lines.append(line)
            if show is not None:
                show(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _stop(proc)
    reader.join(timeout=5)
    return proc.returncode, "\n".join(lines), timed_out


def _stop(proc: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


def _counts(output: str, cwd: Path, junit_xml: str | None) -> dict[str, int]:
    if junit_xml:
        path = Path(junit_xml)
        counts = junit_counts(path if path.is_absolute() else cwd / path)
        if counts:
            return counts
    return pytest_counts(output)


def pytest_counts(output: str) -> dict[str, int]:
    """Counts from pytest's summary line (the last one that looks like it), else {}."""
    for line in reversed(output.splitlines()):
        if _PYTEST_SUMMARY.match(line.strip()):
            counts: dict[str, int] = {}
            for number, word in _PYTEST_COUNT.findall(line):
                key = {"error": "errors", "warning": "warnings"}.get(word, word)
                counts[key] = counts.get(key, 0) + int(number)
            return counts
    return {}


def junit_counts(path: Path) -> dict[str, int]:
    """Counts from a JUnit XML report (<testsuites> or one <testsuite>), else {}."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return {}
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    total = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in suites:
        for key in total:
            value = suite.get(key, "0")
            total[key] += int(value) if value.isdigit() else 0
    passed = total["tests"] - total["failures"] - total["errors"] - total["skipped"]
    return {
        "passed": max(passed, 0),
        "failed": total["failures"],
        "errors": total["errors"],
        "skipped": total["skipped"],
    }


def _summary(counts: dict[str, int]) -> str:
    parts = [f"{counts[k]} {k}" for k in ("passed", "failed", "errors", "skipped") if counts.get(k)]
    return f": {', '.join(parts)}" if parts else ""
