"""examples/hello-service: bin/start and bin/stop as a deploy runs them, and its bad releases."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import test_deploy_support
from test_deploy_support import HELLO, HelloService, free_port, pid_alive

hello = test_deploy_support.hello  # the fixture


def test_start_serves_health_version_and_metrics(hello: HelloService) -> None:
    pid = int(hello.pid_file.read_text())
    assert pid_alive(pid)
    assert httpx.get(hello.url + "/health").json() == {"status": "ok"}
    assert httpx.get(hello.url + "/version").json() == {"version": "1.0.0"}
    metrics = httpx.get(hello.url + "/metrics").text
    assert "hello_requests_total 2\n" in metrics and "hello_errors_total 0\n" in metrics
    log = hello.root / "shared" / "logs" / "hello.log"
    assert "listening on 127.0.0.1" in log.read_text()


def test_start_twice_refuses_and_stop_waits_for_exit(hello: HelloService) -> None:
    pid = int(hello.pid_file.read_text())
    second = hello.start()
    assert second.returncode == 1 and "already running" in second.stderr
    stop = subprocess.run(
        [str(HELLO / "bin" / "stop")], env=hello.env, capture_output=True, text=True, timeout=30
    )
    assert stop.returncode == 0 and "stopped" in stop.stdout
    assert not pid_alive(pid) and not hello.pid_file.exists()
    again = subprocess.run(
        [str(HELLO / "bin" / "stop")], env=hello.env, capture_output=True, text=True, timeout=30
    )
    assert again.returncode == 0 and "not running" in again.stdout


def release_copy(tmp_path: Path, version: str) -> tuple[Path, Path]:
    """The service copied to <root>/releases/<version>, as push lays it out."""
    root = tmp_path / "root"
    release = root / "releases" / version
    shutil.copytree(HELLO, release, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    (release / "VERSION").write_text(version + "\n")
    return root, release


def test_bad_release_file_and_deploy_root_layout(tmp_path: Path) -> None:
    root, release = release_copy(tmp_path, "1.1.0")
    (release / "bad_release").write_text("errors:0.5\n")
    service = HelloService(release, root, free_port())
    service.env.pop("DEPLOY_ROOT")  # found from releases/<version>
    try:
        started = service.start()
        assert started.returncode == 0, started.stderr
        assert (root / "shared" / "hello.pid").exists()
        statuses = [httpx.get(service.url + "/version").status_code for _ in range(6)]
        assert statuses.count(500) == 3
        assert "ERROR" in (root / "shared" / "logs" / "hello.log").read_text()
    finally:
        service.kill()


def test_bad_release_health_from_the_environment(tmp_path: Path) -> None:
    root, release = release_copy(tmp_path, "1.2.0")
    service = HelloService(release, root, free_port())
    try:
        assert service.start(BAD_RELEASE="health").returncode == 0
        assert httpx.get(service.url + "/health").status_code == 503
        assert httpx.get(service.url + "/version").json() == {"version": "1.2.0"}
    finally:
        service.kill()


def test_the_services_own_suite_passes() -> None:
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(HELLO / "tests")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=HELLO,
    )
    assert result.returncode == 0, result.stdout[-2000:]
    assert "5 passed" in result.stdout


def test_env_file_is_read_but_the_environment_wins(tmp_path: Path) -> None:
    root, release = release_copy(tmp_path, "1.3.0")
    port = free_port()
    (release / ".env").write_text(f"PORT={port}\nBAD_RELEASE=health\n")
    service = HelloService(release, root, port)
    service.env.pop("PORT")
    try:
        assert service.start(HOST="127.0.0.1").returncode == 0
        assert httpx.get(service.url + "/health").status_code == 503  # from .env
    finally:
        service.kill()
    other = HelloService(release, root, free_port())
    try:
        assert other.start().returncode == 0  # PORT from the environment, not .env
        assert httpx.get(other.url + "/version").json() == {"version": "1.3.0"}
    finally:
        other.kill()
