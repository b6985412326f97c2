"""hello-service's own tests: run the server in a thread on a free port and ask it."""

from __future__ import annotations

import json
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import hello_service


@pytest.fixture
def serve() -> Iterator:
    servers = []

    def start(mode: str = "") -> str:
        server = hello_service.make_server("127.0.0.1", 0, mode=mode)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_health_and_version(serve) -> None:
    base = serve()
    assert get(base + "/health") == (200, json.dumps({"status": "ok"}) + "\n")
    status, body = get(base + "/version")
    assert status == 200
    assert json.loads(body)["version"] == hello_service.read_version()


def test_metrics_count_requests_and_errors(serve) -> None:
    base = serve()
    get(base + "/health")
    get(base + "/nope")
    status, body = get(base + "/metrics")
    assert status == 200
    assert "hello_requests_total 2\n" in body
    assert "hello_errors_total 0\n" in body


def test_bad_release_health(serve) -> None:
    base = serve("health")
    assert get(base + "/health")[0] == 503
    assert get(base + "/version")[0] == 200


def test_bad_release_error_share(serve) -> None:
    base = serve("errors:0.5")
    statuses = [get(base + "/version")[0] for _ in range(10)]
    assert statuses.count(500) == 5
    assert "hello_errors_total 5\n" in get(base + "/metrics")[1]


def test_error_share_parsing() -> None:
    assert hello_service.error_share("errors:0.25") == 0.25
    assert hello_service.error_share("errors:7") == 1.0
    assert hello_service.error_share("health") == 0.0
    assert hello_service.error_share("errors:x") == 0.0
