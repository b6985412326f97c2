"""Helpers for test_deploy_lab.py: a service repository with a bare origin, a lab
inventory with a staging host and three production hosts, release playbooks written
per test, and ways to look at a host (ledger, `current`, HTTP from the controller).

Each `Site` has its own deploy root under /srv (a private tmpfs on every lab host)
and its own port, so tests sharing one lab never see each other's releases. The
services run inside the hosts' PID namespaces and go away with the lab.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import testinfra
import yaml
from lab.lab import Lab

ROOT = Path(__file__).resolve().parents[2]
STAGING = ("stage1",)
PRODUCTION = ("web1", "web2", "web3")
HOSTS = STAGING + PRODUCTION
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}
# Requests to the lab's private addresses must never go through a proxy.
NO_PROXY_ENV = {"NO_PROXY": "*", "no_proxy": "*"}
_PORTS = itertools.count(18100)

PRECHECKS = """
- name: Controller pre-checks
  hosts: all
  tasks:
    - name: git is clean and in sync
      git_check: {repo: "{{ app_repo }}", branch: main}
      run_once: true
    - name: version is tagged
      tag: {version: "{{ version }}", repo: "{{ app_repo }}", push: true}
      run_once: true
"""

RELEASE = """
- name: Release
  hosts: all
  {serial}
  any_errors_fatal: true
  on_failure: [rollback release]
  pre_tasks:
    - name: promotion gate
      promotion_check:
        version: "{{{{ version }}}}"
        group: staging
        path: "{{{{ deploy_path }}}}"
      run_once: true
      when: {gate} and deploy_env == 'production'
  tasks:
    - name: lock
      lock:
        path: "{{{{ deploy_path }}}}"
        message: "release {{{{ version }}}}"
        ttl: "{{{{ lock_ttl | default(3600) }}}}"
        break_stale: "{{{{ break_stale_lock | default(false) | bool }}}}"
    - name: push
      push:
        path: "{{{{ deploy_path }}}}"
        repo: "{{{{ app_repo }}}}"
        git_ref: "{{{{ git_ref | default('v' ~ version) }}}}"
        version: "{{{{ version }}}}"
        build: "{{{{ build_cmd | default(omit) }}}}"
        restart: "{{{{ app_restart }}}}"
        keep_releases: "{{{{ keep_releases | default(5) }}}}"
    - name: smoke
      smoke:
        path: "{{{{ deploy_path }}}}"
        retries: 4
        delay: 0.3
        urls:
          - "{{{{ health_url }}}}"
          - url: "{{{{ version_url }}}}"
            json: {{version: "{{{{ version }}}}"}}
    - name: monitor
      monitor:
        duration: 1.5
        interval: 0.5
        urls: ["{{{{ health_url }}}}"]
        metrics_url: "{{{{ app_url }}}}/metrics"
        requests_metric: hello_requests_total
        errors_metric: hello_errors_total
        max_error_rate: "{{{{ max_error_rate | default(0.02) }}}}"
        logs: ["{{{{ deploy_path }}}}/shared/logs/hello.log"]
        log_pattern: "Traceback"
  handlers:
    - name: rollback release
      rollback:
        path: "{{{{ deploy_path }}}}"
        restart: "{{{{ app_restart }}}}"
        verify_url: "{{{{ health_url }}}}"
        verify_delay: 0.3
        reason: "release {{{{ version }}}} failed"
"""


def release_playbook(path: Path, *, serial: str | None = '[1, "100%"]', gate: bool = True) -> Path:
    """The pre-checks play and the release play (lock, push, smoke, monitor, rollback)."""
    serial_line = f"serial: {serial}" if serial else ""
    path.write_text(PRECHECKS + RELEASE.format(serial=serial_line, gate=str(gate).lower()))
    return path


def write_inventory(lab: Lab, path: Path) -> Path:
    """stage1 in `staging`, web1..web3 in `production`, connection settings from the lab."""

    def entry(name: str) -> dict[str, Any]:
        return {
            "host": lab.host(name).address,
            "port": 22,
            "user": "root",
            "ssh_key": str(lab.key),
            "known_hosts": str(lab.known_hosts),
        }

    inventory = {
        "all": {
            "vars": {
                "app_bind": "0.0.0.0",
                "app_url": "http://{{ host }}:{{ app_port }}",
                "health_url": "{{ app_url }}/health",
                "version_url": "{{ app_url }}/version",
                "app_restart": "HOST={{ app_bind }} PORT={{ app_port }} bin/restart",
            },
            "children": {
                "staging": {
                    "vars": {"deploy_env": "staging"},
                    "hosts": {n: entry(n) for n in STAGING},
                },
                "production": {
                    "vars": {"deploy_env": "production"},
                    "hosts": {n: entry(n) for n in PRODUCTION},
                },
            },
        }
    }
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    return path


@dataclass
class Run:
    """One `deployplay run`: exit code, console output and the --report JSON."""

    code: int
    output: str
    report: dict[str, Any]

    def statuses(self, host: str) -> dict[str, str]:
        """Task name -> status for one host, over every play of the run."""
        return {
            task["name"]: task["results"][host]["status"]
            for play in self.report.get("plays", [])
            for task in play["tasks"]
            if host in task["results"]
        }

    def batches(self, task: str) -> list[list[str]]:
        """The hosts of each run of a task, in order: one entry per batch."""
        return [
            sorted(entry["results"])
            for play in self.report.get("plays", [])
            for entry in play["tasks"]
            if entry["name"] == task
        ]

    def result(self, task: str, host: str) -> dict[str, Any]:
        for play in self.report.get("plays", []):
            for task_report in play["tasks"]:
                if task_report["name"] == task and host in task_report["results"]:
                    return task_report["results"][host]
        raise KeyError(f"no result for {task!r} on {host}")

    def __str__(self) -> str:
        return f"exit {self.code}\n{self.output[-5000:]}"


class Site:
    """A hello-service repository (bare origin), its deploy root and port on the lab."""

    def __init__(self, lab: Lab, tmp: Path) -> None:
        self.lab, self.tmp = lab, tmp
        self.repo = tmp / "svc"
        self.path = f"/srv/dl-{uuid.uuid4().hex[:8]}"
        self.port = next(_PORTS)
        self.inventory = write_inventory(lab, tmp / "inventory.yml")
        shutil.copytree(
            ROOT / "examples" / "hello-service",
            self.repo,
            ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", "bad_release"),
        )
        (self.repo / ".gitignore").write_text("__pycache__/\n.pytest_cache/\n")
        self.git("init", "-q", "--bare", str(tmp / "origin.git"), cwd=tmp)
        self.git("init", "-q", "-b", "main")
        self.git("remote", "add", "origin", str(tmp / "origin.git"))
        self.release("1.0.0")

    def git(self, *args: str, cwd: Path | None = None) -> str:
        return subprocess.run(
            ["git", *args],
            cwd=cwd or self.repo,
            env={**os.environ, **GIT_ENV},
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout

    def release(self, version: str, *, bad: str | None = None) -> None:
        """Commit VERSION (and a `bad_release` file) and push it; the tag module tags it."""
        (self.repo / "VERSION").write_text(f"{version}\n")
        bad_file = self.repo / "bad_release"
        if bad:
            bad_file.write_text(f"{bad}\n")
        elif bad_file.exists():
            bad_file.unlink()
        self.git("add", "-A")
        self.git("commit", "-q", "-m", version)
        self.git("push", "-q", "-u", "origin", "main")

    def extra_vars(self, version: str | None = None, **more: Any) -> list[str]:
        values = {
            **more,
            "app_repo": str(self.repo),
            "deploy_path": self.path,
            "app_port": self.port,
            "version": version or (self.repo / "VERSION").read_text().strip(),
        }
        path = self.tmp / f"vars-{uuid.uuid4().hex[:6]}.json"
        path.write_text(json.dumps(values))
        return ["-e", f"@{path}"]

    def argv(self, playbook: Path, *args: str, **extra: Any) -> tuple[list[str], Path]:
        """The command line of a run (extra vars in a file) and where its report goes."""
        report = self.tmp / f"report-{uuid.uuid4().hex[:6]}.json"
        argv = [sys.executable, "-m", "deployplay", "run", str(playbook)]
        argv += ["-i", str(self.inventory), "--report", str(report)]
        return [*argv, *self.extra_vars(**extra), *args], report

    def run(self, playbook: Path, *args: str, **extra: Any) -> Run:
        argv, report = self.argv(playbook, *args, **extra)
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=150, env=run_env(), cwd=self.tmp
        )
        data = json.loads(report.read_text()) if report.exists() else {}
        return Run(proc.returncode, proc.stdout + proc.stderr, data)

    # -- looking at the hosts -------------------------------------------------

    def sh(self, host: str, command: str) -> str:
        result = self.lab.exec(host, command)
        assert result.returncode == 0, (host, command, result.stdout, result.stderr)
        return result.stdout

    def current(self, host: str) -> str | None:
        """The release `current` points at (the directory's name), or None."""
        out = self.lab.exec(host, f"readlink {self.path}/current").stdout.strip()
        return out.rsplit("/", 1)[-1] if out else None

    def releases(self, host: str) -> list[str]:
        return self.sh(host, f"ls -A {self.path}/releases 2>/dev/null || true").split()

    def ledger(self, host: str) -> list[dict[str, Any]]:
        text = self.sh(host, f"cat {self.path}/.deployplay/history.jsonl 2>/dev/null || true")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def served(self, host: str) -> str:
        """The version the host's service answers at /version, asked from the controller."""
        url = f"http://{self.lab.host(host).address}:{self.port}/version"
        response = httpx.get(url, timeout=5, trust_env=False)
        response.raise_for_status()
        return response.json()["version"]

    def testinfra(self, host: str) -> Any:
        address = self.lab.host(host).address
        return testinfra.get_host(f"paramiko://{address}", ssh_config=str(self.lab.ssh_config))


def run_env() -> dict[str, str]:
    return {**os.environ, **GIT_ENV, **NO_PROXY_ENV, "NO_COLOR": "1"}
