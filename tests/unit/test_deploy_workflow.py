"""The deployment modules together through `deployplay run`, on this machine (connection: local).

A good release is pushed, smoke-tested (verified) and monitored; a bad one fails
its smoke test and the failure handler rolls the host back; the lock is gone
after both runs. hello-service is stopped by its pid at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from test_deploy_support import HELLO, HelloService, free_port

PLAYBOOK = """
- name: release hello
  hosts: localhost
  on_failure: [rollback]
  tasks:
    - lock: {path: "{{ root }}", message: "release from {{ src }}"}
    - push:
        path: "{{ root }}"
        src: "{{ src }}"
        shared: [logs/]
        restart: "HOST=127.0.0.1 PORT={{ port }} bin/restart"
    - smoke:
        path: "{{ root }}"
        retries: 3
        delay: 0.2
        urls:
          - "http://127.0.0.1:{{ port }}/health"
    - monitor:
        duration: 1
        interval: 0.3
        urls: ["http://127.0.0.1:{{ port }}/health"]
        metrics_url: "http://127.0.0.1:{{ port }}/metrics"
        requests_metric: hello_requests_total
        errors_metric: hello_errors_total
        logs: ["{{ root }}/shared/logs/hello.log"]
  handlers:
    - name: rollback
      rollback: {path: "{{ root }}", restart: "HOST=127.0.0.1 PORT={{ port }} bin/restart"}
"""


def release_src(tmp_path: Path, version: str, bad: str | None = None) -> Path:
    src = tmp_path / f"src-{version}"
    shutil.copytree(HELLO, src, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    (src / "VERSION").write_text(version + "\n")
    if bad:
        (src / "bad_release").write_text(bad + "\n")
    return src


def deployplay(tmp_path: Path, **extra: object) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", "deployplay", "run", str(tmp_path / "release.yml")]
    for key, value in extra.items():
        args += ["-e", f"{key}={value}"]
    env = {k: v for k, v in os.environ.items() if k not in ("BAD_RELEASE", "HOST", "PORT")}
    return subprocess.run(args, capture_output=True, text=True, timeout=180, env=env)


def test_release_then_bad_release_rolls_back(tmp_path: Path) -> None:
    (tmp_path / "release.yml").write_text(PLAYBOOK)
    root, port = tmp_path / "srv", free_port()
    service = HelloService(root / "current", root, port)
    try:
        good = deployplay(tmp_path, root=root, port=port, src=release_src(tmp_path, "1.0.0"))
        assert good.returncode == 0, good.stdout + good.stderr
        bad_src = release_src(tmp_path, "1.1.0", bad="health")
        bad = deployplay(tmp_path, root=root, port=port, src=bad_src)
        assert bad.returncode == 2, bad.stdout + bad.stderr
    finally:
        service.kill()
    assert os.readlink(root / "current").endswith("releases/1.0.0")
    assert not (root / ".deployplay" / "lock").exists()
    lines = (root / ".deployplay" / "history.jsonl").read_text().splitlines()
    events = [(e["event"], e["version"]) for e in map(json.loads, lines)]
    assert events == [
        ("deploy", "1.0.0"),
        ("verified", "1.0.0"),
        ("deploy", "1.1.0"),
        ("failed", "1.1.0"),
        ("rollback", "1.0.0"),
        ("bad", "1.1.0"),
    ]
