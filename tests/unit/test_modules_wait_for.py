"""wait_for against a LocalConnection: ports opened and closed on 127.0.0.1, files, timeouts."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from test_modules_support import make_ctx, run_module

from deployplay.modules.wait_for import WaitFor
from deployplay.runner.connections.fake import FakeConnection


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def late_listener() -> Iterator[tuple[int, threading.Event]]:
    """A port that starts listening 1.5 s after the test starts; closes when the test ends."""
    port = free_port()
    done = threading.Event()

    def listen_later() -> None:
        if done.wait(1.5):
            return
        with socket.socket() as server:
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind(("127.0.0.1", port))
            server.listen()
            server.settimeout(0.2)
            deadline = time.monotonic() + 30  # bounded, whatever the test does
            while not done.is_set() and time.monotonic() < deadline:
                try:
                    conn, _ = server.accept()
                    conn.close()
                except TimeoutError:
                    pass

    thread = threading.Thread(target=listen_later, daemon=True)
    thread.start()
    yield port, done
    done.set()
    thread.join(timeout=5)


def test_waits_for_a_port_that_opens_later(
    tmp_path: Path, late_listener: tuple[int, threading.Event]
) -> None:
    port, _ = late_listener
    started = time.monotonic()
    result = run_module(WaitFor, make_ctx(tmp_path), port=port, timeout=20, sleep=0.2)
    waited = time.monotonic() - started
    assert not result.failed, result.msg
    assert 1.0 < waited < 15
    assert result.data["elapsed"] in (0, 1, 2, 3)
    assert result.data["port"] == port and result.data["state"] == "started"
    assert not result.changed


def test_times_out_on_a_closed_port(tmp_path: Path) -> None:
    port = free_port()
    started = time.monotonic()
    result = run_module(WaitFor, make_ctx(tmp_path), port=port, timeout=1, sleep=0.2)
    assert result.failed
    assert result.msg == f"Timeout when waiting for 127.0.0.1:{port}"
    assert result.data["elapsed"] >= 1
    assert time.monotonic() - started < 10
    custom = run_module(WaitFor, make_ctx(tmp_path), port=port, timeout=1, sleep=0.5, msg="no app")
    assert custom.msg == "no app"


def test_stopped_succeeds_on_a_closed_port(tmp_path: Path) -> None:
    result = run_module(WaitFor, make_ctx(tmp_path), port=free_port(), state="stopped", timeout=5)
    assert not result.failed and result.data["elapsed"] == 0


def test_path_present_with_regex_and_absent(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("starting\n")

    def write_later() -> None:
        time.sleep(0.8)
        log.write_text("starting\nlistening on :8080\n")

    writer = threading.Thread(target=write_later, daemon=True)
    writer.start()
    ctx = make_ctx(tmp_path, check=True)  # changes nothing, so it runs in check mode too
    found = run_module(
        WaitFor, ctx, path=str(log), search_regex="listening on :[0-9]+", timeout=10, sleep=0.2
    )
    writer.join(timeout=5)
    assert not found.failed, found.msg
    missing = run_module(WaitFor, ctx, path=str(log), search_regex="never", timeout=1, sleep=0.2)
    assert missing.msg == f"Timeout when waiting for search string never in {log}"
    assert not run_module(WaitFor, ctx, path=str(tmp_path / "nope"), state="absent").failed
    still = run_module(WaitFor, ctx, path=str(log), state="absent", timeout=1, sleep=0.2)
    assert still.msg == f"Timeout when waiting for {log} to be absent."


def test_one_remote_script_with_quoted_values(tmp_path: Path) -> None:
    fake = FakeConnection("web1").on(r"while :", stdout="elapsed=4\n")
    result = run_module(
        WaitFor, make_ctx(tmp_path, connection=fake), host="db; rm -rf /", port=5432, timeout=60
    )
    assert result.data["elapsed"] == 4
    (call,) = fake.calls
    assert "host='db; rm -rf /'" in call.target
    assert call.options["timeout"] >= 60


def test_wait_for_arguments_are_checked() -> None:
    with pytest.raises(ValidationError, match="can not both"):
        WaitFor.Args.model_validate({"port": 1, "path": "/x"})
    with pytest.raises(ValidationError, match="Extra inputs"):
        WaitFor.Args.model_validate({"port": 1, "timout": 3})
