"""Support for test_release_lab.py: a service repository, lab inventories, and the CLI.

The inventories are written the way inventories/staging.yml and prod.yml are
(groups `staging` and `production`, the shipped group_vars/ copied beside
them, `promotion_inventory` naming the staging inventory), with the lab's
hosts, user, key and known_hosts in place of the real ones.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DEPLOYPLAY = [str(BIN / "deployplay")] if (BIN / "deployplay").exists() else [
    sys.executable, "-m", "deployplay"
]  # fmt: skip
RELEASE = str(ROOT / "playbooks" / "release.yml")
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}
STAGING_HOSTS = ["stg1"]
PROD_HOSTS = ["web1", "web2", "web3"]
DEPLOY_PATH = "/srv/hello-service"  # "/srv/{{ app_name }}", app_name from group_vars/all.yml
APP_PORT = 8000
# Controller-to-lab HTTP must never go through a proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def lab_inventories(lab: Any, dest: Path) -> tuple[Path, Path]:
    """Write dest/staging.yml and dest/prod.yml (and group_vars/) for the lab's hosts."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "inventories" / "group_vars", dest / "group_vars")
    staging, prod = dest / "staging.yml", dest / "prod.yml"
    common = {
        "user": "root",
        "ssh_key": str(lab.key),
        "known_hosts": str(lab.known_hosts),
        "deploy_path": "/srv/{{ app_name }}",
        "app_port": APP_PORT,
        "app_bind": "0.0.0.0",
    }

    def hosts(names: list[str]) -> dict[str, dict[str, Any]]:
        return {name: {"host": lab.host(name).address, "port": 22} for name in names}

    staging.write_text(
        yaml.safe_dump(
            {"all": {"vars": common, "children": {"staging": {"hosts": hosts(STAGING_HOSTS)}}}},
            sort_keys=False,
        )
    )
    # As in prod.yml: the promotion gate reads the staging inventory's ledgers.
    prod_vars = {**common, "promotion_inventory": str(staging)}
    prod.write_text(
        yaml.safe_dump(
            {"all": {"vars": prod_vars, "children": {"production": {"hosts": hosts(PROD_HOSTS)}}}},
            sort_keys=False,
        )
    )
    return staging, prod


class Service:
    """hello-service in a git repository with a bare origin, released by tag."""

    def __init__(self, tmp: Path) -> None:
        self.repo = tmp / "svc"
        shutil.copytree(
            ROOT / "examples" / "hello-service",
            self.repo,
            ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", "bad_release"),
        )
        (self.repo / ".gitignore").write_text("__pycache__/\n.pytest_cache/\n")
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

    def commit(self, version: str, *, bad: str | None = None) -> None:
        (self.repo / "VERSION").write_text(f"{version}\n")
        if bad:
            (self.repo / "bad_release").write_text(f"{bad}\n")
        else:
            (self.repo / "bad_release").unlink(missing_ok=True)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", version)

    def release(self, version: str, *, bad: str | None = None) -> None:
        """Commit VERSION (and a bad_release file) and push it: release.yml tags it."""
        self.commit(version, bad=bad)
        self.git("push", "-q", "origin", "main")

    def deployplay(self, *args: str, inventory: Path) -> subprocess.CompletedProcess[str]:
        """The CLI from the repository root (so `deployplay rollback` finds playbooks/)."""
        return subprocess.run(
            [*DEPLOYPLAY, *args, "-i", str(inventory), "-e", f"@{self.vars}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=150,
            env={**os.environ, **GIT_ENV, "NO_COLOR": "1"},
        )

    def run(self, inventory: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return self.deployplay("run", RELEASE, *args, inventory=inventory)

    def history(self, inventory: Path) -> dict[str, dict[str, Any]]:
        result = self.deployplay("history", "--json", inventory=inventory)
        assert result.returncode == 0, explain(result)
        return {row["host"]: row for row in json.loads(result.stdout)}


def served_version(address: str) -> str:
    """What the host's service says it is, asked over HTTP from the controller."""
    with _OPENER.open(f"http://{address}:{APP_PORT}/version", timeout=5) as response:
        return json.loads(response.read())["version"]


def explain(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n{result.stdout[-5000:]}\n{result.stderr[-2000:]}"
