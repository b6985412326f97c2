"""The `test` module: runs a suite on the controller, fails on red, reads the counts."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from test_deploy_support import make_ctx, run_module

from deployplay.modules.test import Test, junit_counts, pytest_counts

SUITE = """
import pytest

def test_one():
    assert True

def test_two():
    assert {result}

@pytest.mark.skip(reason="not today")
def test_three():
    pass
"""


def write_suite(tmp_path: Path, result: str) -> Path:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_x.py").write_text(SUITE.format(result=result))
    return suite


PYTEST = f"{sys.executable} -m pytest -q -p no:cacheprovider -o addopts= ."


def test_green_suite_with_counts_and_live_output(tmp_path: Path) -> None:
    suite = write_suite(tmp_path, "True")
    lines: list[str] = []
    ctx = make_ctx(tmp_path, verbosity=1, output=lines.append)
    result = run_module(Test, ctx, cmd=PYTEST, cwd=str(suite))
    assert not result.failed, result.msg
    assert result.data["counts"] == {"passed": 2, "skipped": 1}
    assert "2 passed, 1 skipped" in result.msg
    assert any("2 passed" in line for line in lines)
    assert "2 passed" in result.data["stdout"]


def test_red_suite_fails_with_the_tail(tmp_path: Path) -> None:
    suite = write_suite(tmp_path, "1 == 2")
    lines: list[str] = []
    ctx = make_ctx(tmp_path, verbosity=0, output=lines.append)
    result = run_module(Test, ctx, cmd=PYTEST, cwd=str(suite))
    assert result.failed
    assert "tests failed (exit code 1): 1 passed, 1 failed, 1 skipped" in result.msg
    assert "assert 1 == 2" in result.msg
    assert lines == []  # quiet below -v


def test_env_cwd_and_argv(tmp_path: Path) -> None:
    result = run_module(
        Test, make_ctx(tmp_path), cmd="echo $GREETING; pwd", env={"GREETING": "hi"}, cwd="."
    )
    assert not result.failed and result.data["stdout"] == f"hi\n{tmp_path}"
    argv = run_module(Test, make_ctx(tmp_path), cmd=["sh", "-c", "exit 4"])
    assert argv.failed and "exit code 4" in argv.msg


def test_timeout_stops_the_suite(tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_module(Test, make_ctx(tmp_path), cmd="echo started; sleep 30", timeout=0.5)
    assert time.monotonic() - started < 10
    assert result.failed and "timed out after 0.5s" in result.msg and "started" in result.msg


def test_junit_xml_counts(tmp_path: Path) -> None:
    (tmp_path / "report.xml").write_text(
        '<testsuites><testsuite tests="5" failures="1" errors="0" skipped="1"/>'
        '<testsuite tests="2" failures="0" errors="1" skipped="0"/></testsuites>'
    )
    result = run_module(Test, make_ctx(tmp_path), cmd="true", junit_xml="report.xml")
    assert result.data["counts"] == {"passed": 4, "failed": 1, "errors": 1, "skipped": 1}
    assert junit_counts(tmp_path / "missing.xml") == {}


def test_pytest_summary_parsing() -> None:
    assert pytest_counts("==== 3 failed, 10 passed, 2 errors in 1.20s ====") == {
        "failed": 3,
        "passed": 10,
        "errors": 2,
    }
    assert pytest_counts("no summary here") == {}
