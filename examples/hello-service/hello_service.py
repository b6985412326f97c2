"""hello-service: a small HTTP service that deployplay's demo and tests deploy.

Standard library only. Endpoints:
  /          a greeting (text)
  /health    {"status": "ok"}; 503 when the release is bad (BAD_RELEASE=health)
  /version   {"version": "<VERSION file>"}
  /metrics   Prometheus text: hello_requests_total, hello_errors_total, hello_up

A bad release, for rollback drills, comes from the BAD_RELEASE environment
variable or a `bad_release` file beside this one (so a git commit can make one):
  health       /health answers 503
  errors:0.5   that share of requests answers 500 (evenly spread, from start)
Each 5xx answer is logged with the word ERROR, so a log watcher can count it.

Run: HOST=127.0.0.1 PORT=8000 python3 hello_service.py
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent


def read_version() -> str:
    try:
        return (HERE / "VERSION").read_text().strip() or "unknown"
    except OSError:
        return "unknown"


def bad_release_mode() -> str:
    """The BAD_RELEASE switch: the environment wins over the `bad_release` file."""
    mode = os.environ.get("BAD_RELEASE", "").strip()
    if not mode:
        try:
            mode = (HERE / "bad_release").read_text().strip()
        except OSError:
            mode = ""
    return mode


def error_share(mode: str) -> float:
    if not mode.startswith("errors:"):
        return 0.0
    try:
        return min(max(float(mode.split(":", 1)[1]), 0.0), 1.0)
    except ValueError:
        return 0.0


class Stats:
    """Request and error counters; the error share is spread evenly over requests."""

    def __init__(self, share: float) -> None:
        self.share = share
        self.requests = 0
        self.errors = 0
        self.started = time.time()
        self._lock = threading.Lock()

    def next_request(self) -> bool:
        """Count a request; True when this one must fail (the bad release's share)."""
        with self._lock:
            self.requests += 1
            n = self.requests
        return int(n * self.share) > int((n - 1) * self.share)

    def count_error(self) -> None:
        with self._lock:
            self.errors += 1


class Handler(BaseHTTPRequestHandler):
    server_version = "hello-service"
    stats: Stats
    mode: str
    version: str

    def do_GET(self) -> None:
        fail = self.path != "/metrics" and self.stats.next_request()
        if fail:
            self.reply(500, {"error": "bad release"})
        elif self.path == "/health":
            if self.mode == "health":
                self.reply(503, {"status": "failing", "reason": "bad release"})
            else:
                self.reply(200, {"status": "ok"})
        elif self.path == "/version":
            self.reply(200, {"version": self.version})
        elif self.path == "/metrics":
            self.reply_text(200, self.metrics(), "text/plain; version=0.0.4")
        elif self.path == "/":
            self.reply_text(200, f"hello from {self.version}\n", "text/plain")
        else:
            self.reply(404, {"error": "not found"})

    def metrics(self) -> str:
        return (
            "# HELP hello_requests_total Requests answered, /metrics excluded.\n"
            "# TYPE hello_requests_total counter\n"
            f"hello_requests_total {self.stats.requests}\n"
            "# HELP hello_errors_total Requests answered with a 5xx status.\n"
            "# TYPE hello_errors_total counter\n"
            f"hello_errors_total {self.stats.errors}\n"
            "# TYPE hello_up gauge\n"
            f'hello_up{{version="{self.version}"}} 1\n'
        )

    def reply(self, status: int, body: dict) -> None:
        self.reply_text(status, json.dumps(body) + "\n", "application/json")

    def reply_text(self, status: int, text: str, content_type: str) -> None:
        if status >= 500:
            self.stats.count_error()
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        # log_request passes (request line, status code, size): a 5xx is an ERROR line.
        code = str(args[1]) if len(args) > 1 else ""
        level = "ERROR" if code.startswith("5") else "INFO"
        sys.stderr.write(f"{self.log_date_time_string()} {level} {format % args}\n")
        sys.stderr.flush()


def make_server(host: str, port: int, mode: str | None = None) -> ThreadingHTTPServer:
    """A server bound to host:port (port 0: any free port); `mode` overrides BAD_RELEASE."""
    mode = bad_release_mode() if mode is None else mode
    handler = type(
        "BoundHandler",
        (Handler,),
        {"stats": Stats(error_share(mode)), "mode": mode, "version": read_version()},
    )
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def main() -> int:
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    server = make_server(host, port)
    mode = server.RequestHandlerClass.mode  # type: ignore[attr-defined]
    sys.stderr.write(
        f"hello-service {read_version()} listening on {host}:{port}"
        f"{f' (BAD_RELEASE={mode})' if mode else ''}\n"
    )
    sys.stderr.flush()
    # SIGTERM (bin/stop) shuts down cleanly instead of dying mid-answer.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
