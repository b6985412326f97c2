"""smoke and monitor against hello-service started locally on 127.0.0.1 (stopped by pid)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import test_deploy_support
from test_deploy_push import make_src
from test_deploy_support import HELLO, HelloService, free_port, make_ctx, run_module

from deployplay.modules.monitor import Monitor, parse_json_metrics, parse_prometheus
from deployplay.modules.push import Push
from deployplay.modules.smoke import Smoke, json_mismatch
from deployplay.runner.connections.local import LocalConnection
from deployplay.runner.ledger import Ledger

hello = test_deploy_support.hello  # the fixture


def deployed_root(tmp_path: Path) -> Path:
    root = tmp_path / "srv"
    src = make_src(tmp_path / "src", "1.0.0")
    assert run_module(Push, make_ctx(tmp_path), path=str(root), src=str(src)).changed
    return root


def test_smoke_passes_and_records_verified(tmp_path: Path, hello: HelloService) -> None:
    root = deployed_root(tmp_path)
    ctx = make_ctx(tmp_path)
    result = run_module(
        Smoke,
        ctx,
        path=str(root),
        urls=[
            hello.url + "/health",
            {"url": hello.url + "/version", "json": {"version": "1.0.0"}, "max_latency_ms": 2000},
            {"url": hello.url + "/metrics", "body": r"hello_requests_total \d+"},
        ],
    )
    assert not result.failed, result.msg
    assert "3 checks passed" in result.msg and "release 1.0.0 verified" in result.msg
    verified = Ledger(LocalConnection(), str(root)).read().last("verified")
    assert (
        verified and verified["version"] == "1.0.0" and verified["run_id"] == ctx.run_state.run_id
    )
    assert "commit" not in verified and verified["release"].endswith("releases/1.0.0")


def test_smoke_failure_says_what_and_records_nothing(tmp_path: Path, hello: HelloService) -> None:
    root = deployed_root(tmp_path)
    result = run_module(
        Smoke,
        make_ctx(tmp_path),
        path=str(root),
        retries=2,
        delay=0.05,
        urls=[
            {"url": hello.url + "/version", "json": {"version": "2.0.0"}},
            {"url": hello.url + "/nope"},
        ],
    )
    assert result.failed and "after 3 attempts" in result.msg
    assert "JSON version is '1.0.0', expected '2.0.0'" in result.msg
    assert "status 404, expected 200" in result.msg
    view = Ledger(LocalConnection(), str(root)).read()
    assert view.verified == set()
    failed = view.last("failed")
    assert failed and failed["version"] == "1.0.0" and failed["step"] == "smoke"


def test_smoke_in_check_mode_writes_no_ledger(tmp_path: Path, hello: HelloService) -> None:
    root = deployed_root(tmp_path)
    result = run_module(Smoke, make_ctx(tmp_path, check=True), path=str(root), urls=[hello.url])
    assert not result.failed and "verified" not in result.msg
    assert Ledger(LocalConnection(), str(root)).verified() == set()


def test_smoke_retries_while_the_service_comes_up(tmp_path: Path) -> None:
    service = HelloService(HELLO, tmp_path / "late", free_port())
    timer = threading.Timer(0.5, service.start)
    timer.start()
    try:
        result = run_module(
            Smoke, make_ctx(tmp_path), urls=[service.url + "/health"], retries=40, delay=0.1
        )
        assert not result.failed, result.msg
        assert result.data["checks"][0]["attempts"] > 1
    finally:
        timer.join(timeout=30)
        service.kill()


def test_smoke_latency_limit(tmp_path: Path, hello: HelloService) -> None:
    check = {"url": hello.url + "/health", "max_latency_ms": 0.001}
    result = run_module(Smoke, make_ctx(tmp_path), urls=[check], retries=0)
    assert result.failed and "latency" in result.msg and "over 0.001ms" in result.msg


def test_monitor_healthy_release(tmp_path: Path, hello: HelloService) -> None:
    seen: list[str] = []
    started = time.monotonic()
    result = run_module(
        Monitor,
        make_ctx(tmp_path, progress=seen.append),
        duration=1.0,
        interval=0.25,
        urls=[hello.url + "/health"],
        metrics_url=hello.url + "/metrics",
        requests_metric="hello_requests_total",
        errors_metric="hello_errors_total",
        max_latency_ms=2000,
        logs=[str(hello.root / "shared" / "logs" / "hello.log")],
    )
    assert not result.failed, result.msg
    assert 1.0 <= time.monotonic() - started < 5
    assert result.data["rounds"] >= 3 and result.data["probe_errors"] == 0
    assert result.data["requests"] >= 3 and result.data["errors"] == 0
    assert len(seen) == result.data["rounds"] and "/1s" in seen[-1]


def test_monitor_catches_a_bad_release_quickly(tmp_path: Path) -> None:
    service = HelloService(HELLO, tmp_path / "bad", free_port())
    assert service.start(BAD_RELEASE="errors:0.5").returncode == 0
    try:
        started = time.monotonic()
        result = run_module(
            Monitor,
            make_ctx(tmp_path),
            duration=30,
            interval=0.1,
            metrics_url=service.url + "/metrics",
            requests_metric="hello_requests_total",
            errors_metric="hello_errors_total",
            urls=[service.url + "/version", service.url + "/version"],
            max_error_rate=0.2,
        )
        assert time.monotonic() - started < 10
        assert result.failed and "error rate" in result.msg and "over 20.0% by" in result.msg
    finally:
        service.kill()


def test_monitor_counts_new_log_lines_on_the_host(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("ERROR old, before the monitor started\n")

    def write_error() -> None:
        with open(log, "a") as handle:
            handle.write("INFO fine\nERROR boom\n")

    timer = threading.Timer(0.3, write_error)
    timer.start()
    try:
        result = run_module(Monitor, make_ctx(tmp_path), duration=5, interval=0.1, logs=[str(log)])
    finally:
        timer.join(timeout=10)
    assert result.failed and "1 log lines match /ERROR/, more than 0 by 1" in result.msg


def test_monitor_needs_something_to_watch(tmp_path: Path) -> None:
    result = run_module(Monitor, make_ctx(tmp_path), duration=1)
    assert result.failed and "nothing to watch" in result.msg


def test_metric_parsers() -> None:
    text = (
        "# HELP x\n# TYPE http_requests_total counter\n"
        'http_requests_total{code="200"} 10\nhttp_requests_total{code="500"} 2\n'
        "up 1 1700000000\nbroken line\n"
    )
    assert parse_prometheus(text) == {"http_requests_total": 12.0, "up": 1.0}
    assert parse_json_metrics('{"http": {"requests": 5, "ok": true}, "e": 1.5}') == {
        "http.requests": 5.0,
        "e": 1.5,
    }
    assert json_mismatch({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}}) is None
    assert json_mismatch({"a": 1}, {"b": 1}) == "JSON has no a"


def test_monitor_latency_p95(tmp_path: Path, hello: HelloService) -> None:
    result = run_module(
        Monitor,
        make_ctx(tmp_path),
        duration=5,
        interval=0.1,
        urls=[hello.url + "/health"],
        max_latency_ms=0.001,
    )
    assert result.failed and result.msg.startswith("latency p95 ")
    assert "over 0.001ms by" in result.msg and result.data["rounds"] == 1
