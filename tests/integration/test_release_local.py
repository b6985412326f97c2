"""playbooks/release.yml and rollback.yml, end to end through the CLI, on inventories/local.yml.

The local "hosts" (connection: local) get deploy roots under tmp_path and
ports of their own (`-e local_root=... -e local_port_base=...`), so this runs
beside `make demo` and needs no SSH and no root. Every service it starts is
stopped by its pid file at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DEPLOYPLAY = [str(BIN / "deployplay")] if (BIN / "deployplay").exists() else [
    sys.executable, "-m", "deployplay"
]  # fmt: skip
HOSTS = ("staging-1", "prod-1", "prod-2")
OFFSETS = {"staging-1": 1, "prod-1": 11, "prod-2": 12}
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}


def free_port_base() -> int:
    """A base whose +1, +11 and +12 ports are free on 127.0.0.1 (a bounded search)."""
    for base in range(29000 + os.getpid() % 500 * 20, 40000, 20):
        if all(_free(base + offset) for offset in OFFSETS.values()):
            return base
    raise RuntimeError("no free ports")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Site:
    """A service repository with a bare origin, and the local hosts' settings for runs."""

    def __init__(self, tmp: Path) -> None:
        self.repo, self.hosts = tmp / "svc", tmp / "hosts"
        self.port_base = free_port_base()
        shutil.copytree(
            ROOT / "examples" / "hello-service",
            self.repo,
            ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", "bad_release"),
        )
        (self.repo / ".gitignore").write_text("__pycache__/\n.pytest_cache/\n")
        (self.repo / "VERSION").write_text("1.0.0\n")
        self.git("init", "-q", "--bare", str(tmp / "origin.git"), cwd=tmp)
        self.git("init", "-q", "-b", "main")
        self.commit("1.0.0")
        self.git("remote", "add", "origin", str(tmp / "origin.git"))
        self.git("push", "-q", "-u", "origin", "main")
        self.vars = tmp / "vars.json"
        self.vars.write_text(
            json.dumps(
                {
                    "app_repo": str(self.repo),
                    "test_command": f"{sys.executable} -m pytest -q -p no:cacheprovider",
                    "local_root": str(self.hosts),
                    "local_port_base": self.port_base,
                    "monitor_duration": 2,
                    "monitor_interval": 0.5,
                }
            )
        )

    def git(self, *args: str, cwd: Path | None = None) -> None:
        subprocess.run(
            ["git", *args],
            cwd=cwd or self.repo,
            env={**os.environ, **GIT_ENV},
            check=True,
            capture_output=True,
            timeout=60,
        )

    def commit(self, version: str, *, bad: bool = False) -> None:
        (self.repo / "VERSION").write_text(f"{version}\n")
        if bad:
            (self.repo / "bad_release").write_text("errors:0.5\n")
        self.git("add", "-A")
        self.git("commit", "-q", "-m", version)

    def release(self, version: str, *, bad: bool = False) -> None:
        self.commit(version, bad=bad)
        self.git("push", "-q", "origin", "main")

    def deployplay(self, *args: str, inventory: str = "local") -> subprocess.CompletedProcess[str]:
        command = [*DEPLOYPLAY, *args]
        return subprocess.run(
            [*command, "-i", inventory, "-e", f"@{self.vars}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=180,
            env={**os.environ, **GIT_ENV, "NO_COLOR": "1"},
        )

    def run(
        self, playbook: str, *args: str, inventory: str = "local"
    ) -> subprocess.CompletedProcess[str]:
        return self.deployplay("run", f"playbooks/{playbook}", *args, inventory=inventory)

    def history(self) -> dict[str, dict]:
        result = self.deployplay("history", "--json")
        assert result.returncode == 0, result.stdout + result.stderr
        return {row["host"]: row for row in json.loads(result.stdout)}

    def version_of(self, host: str) -> str:
        url = f"http://127.0.0.1:{self.port_base + OFFSETS[host]}/version"
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())["version"]

    def stop_all(self) -> None:
        for host in HOSTS:
            stop = self.hosts / host / "current" / "bin" / "stop"
            if stop.exists():
                env = {**os.environ, "DEPLOY_ROOT": str(self.hosts / host)}
                subprocess.run([str(stop)], env=env, capture_output=True, timeout=30)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    site = Site(tmp_path)
    try:
        yield site
    finally:
        site.stop_all()


def explain(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}"


def test_release_promote_rollback_and_a_bad_release_on_local_hosts(site: Site):
    first = site.run("release.yml", "--limit", "staging")
    assert first.returncode == 0, explain(first)
    assert site.version_of("staging-1") == "1.0.0"
    prod = site.run("release.yml", "--limit", "production")
    assert prod.returncode == 0, explain(prod)
    assert [site.version_of(h) for h in ("prod-1", "prod-2")] == ["1.0.0", "1.0.0"]

    # Production refuses 1.1.0 before staging has verified it, and touches nothing.
    site.release("1.1.0")
    refused = site.run("release.yml", "--limit", "production")
    assert refused.returncode == 2, explain(refused)
    assert "not verified" in refused.stdout or "runs 1.0.0" in refused.stdout
    assert site.history()["prod-1"]["current"] == "1.0.0"

    for limit in ("staging", "production"):
        result = site.run("release.yml", "--limit", limit)
        assert result.returncode == 0, explain(result)
    rows = site.history()
    assert {h: rows[h]["current"] for h in HOSTS} == dict.fromkeys(HOSTS, "1.1.0")
    assert rows["prod-2"]["previous"] == "1.0.0" and rows["prod-2"]["verified"]

    # deployplay rollback: production back to the previous release, verified by smoke.
    back = site.deployplay("rollback", "--limit", "production", "--reason", "drill")
    assert back.returncode == 0, explain(back)
    rows = site.history()
    assert (rows["prod-1"]["current"], rows["prod-1"]["how"]) == ("1.0.0", "rollback")
    assert rows["staging-1"]["current"] == "1.1.0"
    assert site.version_of("prod-2") == "1.0.0"

    # A bad release: monitor catches it on staging, the failure handler rolls it back.
    site.release("1.2.0", bad=True)
    report = site.repo.parent / "report.json"
    bad = site.run("release.yml", "--limit", "staging", "--report", str(report))
    assert bad.returncode == 2, explain(bad)
    rows = site.history()
    assert (rows["staging-1"]["current"], rows["staging-1"]["how"]) == ("1.1.0", "rollback")
    assert site.version_of("staging-1") == "1.1.0"
    tasks = [t for p in json.loads(report.read_text())["plays"] for t in p["tasks"]]
    statuses = {(t["module"], t["handler"]): t["results"]["staging-1"]["status"] for t in tasks}
    assert statuses[("monitor", False)] == "failed"
    assert statuses[("rollback", True)] == "changed"
    ledger = (site.hosts / "staging-1" / ".deployplay" / "history.jsonl").read_text()
    assert any(
        json.loads(line)["event"] == "bad" and json.loads(line)["version"] == "1.2.0"
        for line in ledger.splitlines()
    )


def test_a_failure_in_the_second_batch_rolls_back_the_canary_too(site: Site, tmp_path: Path):
    # A copy of the inventories in which prod-2's version URL is wrong, so its smoke fails.
    inventories = tmp_path / "inventories"
    shutil.copytree(ROOT / "inventories", inventories)
    (inventories / "host_vars").mkdir()
    (inventories / "host_vars" / "prod-2.yml").write_text(
        'version_url: "{{ app_url }}/no-such-page"\n'
    )
    broken = str(inventories / "local.yml")
    for limit in ("staging", "production"):
        result = site.run("release.yml", "--limit", limit)
        assert result.returncode == 0, explain(result)
    site.release("1.1.0")
    result = site.run("release.yml", "--limit", "staging")
    assert result.returncode == 0, explain(result)

    report = tmp_path / "report.json"
    failed = site.run(
        "release.yml", "--limit", "production", "--report", str(report), inventory=broken
    )
    assert failed.returncode == 2, explain(failed)
    # prod-1, the canary, had switched to 1.1.0 and passed: it goes back with prod-2.
    rows = site.history()
    assert {h: rows[h]["current"] for h in ("prod-1", "prod-2")} == {
        "prod-1": "1.0.0",
        "prod-2": "1.0.0",
    }
    assert rows["prod-1"]["how"] == "rollback" and rows["staging-1"]["current"] == "1.1.0"
    assert [site.version_of(h) for h in ("prod-1", "prod-2")] == ["1.0.0", "1.0.0"]
    tasks = [t for p in json.loads(report.read_text())["plays"] for t in p["tasks"]]
    rolled = {h for t in tasks if t["module"] == "rollback" for h in t["results"]}
    assert rolled == {"prod-1", "prod-2"}


def test_a_fleet_that_cannot_all_be_locked_is_not_touched(site: Site):
    # Every host is locked before any host changes: a lock another run holds on prod-2
    # stops the release before the canary prod-1 is switched.
    for limit in ("staging", "production"):
        result = site.run("release.yml", "--limit", limit)
        assert result.returncode == 0, explain(result)
    site.release("1.1.0")
    staged = site.run("release.yml", "--limit", "staging")
    assert staged.returncode == 0, explain(staged)
    before = {h: site.history()[h] for h in ("prod-1", "prod-2")}

    lock = site.hosts / "prod-2" / ".deployplay" / "lock"
    lock.mkdir()
    held = {"owner": "alice@laptop", "host": "laptop", "pid": 1, "run_id": "other-run"}
    (lock / "info").write_text(json.dumps(held) + "\n")
    refused = site.run("release.yml", "--limit", "production")
    assert refused.returncode == 2, explain(refused)
    assert "alice@laptop" in refused.stdout
    after = {h: site.history()[h] for h in ("prod-1", "prod-2")}
    assert after == before
    assert [site.version_of(h) for h in ("prod-1", "prod-2")] == ["1.0.0", "1.0.0"]
    assert lock.is_dir(), "another run's lock is never released by this one"
    assert not (site.hosts / "prod-1" / ".deployplay" / "lock").exists()
