"""The controller-side modules: debug, set_fact, assert, fail, meta, http (against 127.0.0.1)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from test_modules_support import make_ctx, run_module

from deployplay.modules.assert_ import Assert
from deployplay.modules.debug import NOT_DEFINED, Debug
from deployplay.modules.fail import Fail
from deployplay.modules.http import Http
from deployplay.modules.meta import Meta
from deployplay.modules.set_fact import SetFact

# --- debug -------------------------------------------------------------------------------


def test_debug_msg_default_and_value(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    hello = run_module(Debug, ctx)
    assert (hello.msg, hello.data, hello.changed) == (
        "Hello world!",
        {"msg": "Hello world!"},
        False,
    )
    listed = run_module(Debug, ctx, msg=["a", 1])
    assert listed.data == {"msg": ["a", 1]}


def test_debug_var_is_evaluated(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, variables={"result": {"stdout": "v1.2.3", "rc": 0}})
    assert run_module(Debug, ctx, var="result.stdout").data == {"result.stdout": "v1.2.3"}
    assert run_module(Debug, ctx, var="result.rc + 1").data == {"result.rc + 1": 1}
    assert run_module(Debug, ctx, var="nothing_here").data == {"nothing_here": NOT_DEFINED}


def test_debug_verbosity_and_conflicts(tmp_path: Path) -> None:
    quiet = run_module(Debug, make_ctx(tmp_path), msg="hi", verbosity=2)
    assert quiet.skipped
    loud = run_module(Debug, make_ctx(tmp_path, verbosity=2), msg="hi", verbosity=2)
    assert not loud.skipped and loud.msg == "hi"
    with pytest.raises(ValidationError, match="incompatible"):
        Debug.Args.model_validate({"msg": "a", "var": "b"})


# --- set_fact ----------------------------------------------------------------------------


def test_set_fact_returns_facts(tmp_path: Path) -> None:
    result = run_module(SetFact, make_ctx(tmp_path), release="v2", hosts=["a"], cacheable=True)
    assert result.facts == {"release": "v2", "hosts": ["a"]}
    assert result.data == {"ansible_facts": {"release": "v2", "hosts": ["a"]}}
    assert not result.changed


def test_set_fact_refuses_bad_names(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="'not-valid' is not valid"):
        SetFact.Args.model_validate({"not-valid": 1})
    assert run_module(SetFact, make_ctx(tmp_path)).failed


# --- assert, fail, meta ------------------------------------------------------------------


def test_assert_passes_and_fails_on_the_first_false(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, variables={"version": "1.2.3", "status": 200})
    ok = run_module(Assert, ctx, that=["status == 200", "version is version('1.0', '>=')"])
    assert not ok.failed and ok.msg == "All assertions passed"
    single = run_module(Assert, ctx, that="status == 200", success_msg="healthy")
    assert single.msg == "healthy"
    bad = run_module(Assert, ctx, that=["status == 200", "status == 500", "nope"], msg="down")
    assert bad.failed and bad.msg == "down"
    assert bad.data["assertion"] == "status == 500" and bad.data["evaluated_to"] is False
    default = run_module(Assert, ctx, that=[False])
    assert default.failed and default.msg == "Assertion failed"


def test_fail_and_meta(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    failed = run_module(Fail, ctx)
    assert failed.failed and failed.msg == "Failed as requested from task"
    assert run_module(Fail, ctx, msg="stop").msg == "stop"
    assert run_module(Meta, ctx, action="flush_handlers").data == {"meta": "flush_handlers"}
    with pytest.raises(ValidationError):
        Meta.Args.model_validate({"action": "reboot_everything"})
    assert Meta.free_form == "action"


def test_module_classes_describe_themselves() -> None:
    for module in (Debug, SetFact, Assert, Fail, Meta, Http):
        assert module.read_only and module.runs_on == "controller"
        assert module.__doc__ and "- " + module.name in module.__doc__


# --- http --------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        if self.path == "/health":
            self._send(200, b'{"status": "ok", "version": "1.2.3"}', "application/json")
        elif self.path == "/old":
            self.send_response(302)
            self.send_header("Location", "/health")
            self.end_headers()
        else:
            self._send(404, b"not here", "text/plain")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        echo = {"body": body.decode(), "type": self.headers["Content-Type"]}
        self._send(201, json.dumps(echo).encode(), "application/json")

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def test_http_get_json(tmp_path: Path, server: str) -> None:
    result = run_module(Http, make_ctx(tmp_path), url=f"{server}/health", return_content=True)
    assert not result.failed
    assert result.data["status"] == 200
    assert result.data["json"] == {"status": "ok", "version": "1.2.3"}
    assert result.data["content"].startswith('{"status"')
    assert result.data["content_type"] == "application/json"
    assert result.data["url"] == f"{server}/health"
    assert isinstance(result.data["elapsed"], int)


def test_http_unexpected_status_fails_clearly(tmp_path: Path, server: str) -> None:
    result = run_module(Http, make_ctx(tmp_path), url=f"{server}/missing")
    assert result.failed
    assert result.msg == "Status code was 404 and not [200]: HTTP Error 404: Not Found"
    assert "content" not in result.data
    allowed = run_module(Http, make_ctx(tmp_path), url=f"{server}/missing", status_code=[200, 404])
    assert not allowed.failed


def test_http_redirects_and_post_bodies(tmp_path: Path, server: str) -> None:
    ctx = make_ctx(tmp_path)
    followed = run_module(Http, ctx, url=f"{server}/old")
    assert followed.data["redirected"] and followed.data["url"] == f"{server}/health"
    kept = run_module(Http, ctx, url=f"{server}/old", follow_redirects="none", status_code=302)
    assert not kept.failed and kept.data["location"] == "/health"
    headed = run_module(Http, ctx, url=f"{server}/health", headers={"X-Retries": 3})
    assert not headed.failed
    posted = run_module(
        Http,
        ctx,
        url=f"{server}/x",
        method="post",
        body={"a": 1},
        body_format="json",
        status_code=201,
    )
    assert posted.data["json"] == {"body": '{"a": 1}', "type": "application/json"}
    form = run_module(
        Http,
        ctx,
        url=f"{server}/x",
        method="POST",
        body={"a": "b c"},
        body_format="form-urlencoded",
        status_code="201",
    )
    assert form.data["json"]["body"] == "a=b+c"


def test_http_check_mode_sends_only_safe_methods(tmp_path: Path, server: str) -> None:
    ctx = make_ctx(tmp_path, check=True)
    assert not run_module(Http, ctx, url=f"{server}/health").skipped
    post = run_module(Http, ctx, url=f"{server}/x", method="POST", body="x")
    assert post.skipped and post.msg == f"would send POST {server}/x"


def test_http_connection_refused(tmp_path: Path, server: str) -> None:
    import socket

    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_module(Http, make_ctx(tmp_path), url=f"http://127.0.0.1:{port}/", timeout=5)
    assert result.failed and result.data["status"] == -1
    assert result.msg.startswith("Status code was -1 and not [200]: Request failed:")
