"""playbooks/release.yml, as shipped, over SSH on the lab: staging (stg1), then production
(web1..web3, a canary then the rest), the promotion gate, a bad release, and a rollback.

Each test builds its own 4-host lab (`fresh_lab`) and a service repository under
tmp_path; the inventories are generated like inventories/staging.yml and prod.yml.
The services run inside the hosts' PID namespaces and die with the lab.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import testinfra
from lab.lab import Lab
from release_lab_support import (
    DEPLOY_PATH,
    PROD_HOSTS,
    STAGING_HOSTS,
    Service,
    explain,
    lab_inventories,
    served_version,
)

pytestmark = [
    pytest.mark.lab,
    pytest.mark.filterwarnings("ignore:Unknown ssh-ed25519 host key"),  # testinfra's policy
]
ALL_HOSTS = [*STAGING_HOSTS, *PROD_HOSTS]


@dataclass
class Release:
    lab: Lab
    service: Service
    staging: Path
    prod: Path

    def versions(self, names: list[str]) -> dict[str, str]:
        """What each host serves, asked over HTTP from the controller."""
        return {name: served_version(self.lab.host(name).address) for name in names}

    def current_target(self, name: str) -> str:
        """Where <deploy_path>/current points on the host, read with testinfra over SSH."""
        host = testinfra.get_host(
            f"paramiko://{self.lab.host(name).address}", ssh_config=str(self.lab.ssh_config)
        )
        link = host.file(f"{DEPLOY_PATH}/current")
        assert link.is_symlink
        return link.linked_to

    def release_dirs(self, name: str) -> list[str]:
        listing = self.lab.exec(name, f"ls {DEPLOY_PATH}/releases")
        return sorted(listing.stdout.split())

    def ledger(self, name: str) -> list[dict]:
        text = self.lab.exec(name, f"cat {DEPLOY_PATH}/.deployplay/history.jsonl").stdout
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def ship(self) -> dict:
        """Release the repository's version to staging, then production; production's report."""
        report = self.staging.with_name(f"report-{uuid.uuid4().hex[:6]}.json")
        for inventory in (self.staging, self.prod):
            result = self.service.run(inventory, "--report", str(report))
            assert result.returncode == 0, explain(result)
        return json.loads(report.read_text())


@pytest.fixture
def release(fresh_lab, tmp_path: Path) -> Release:
    lab = fresh_lab(names=ALL_HOSTS)
    staging, prod = lab_inventories(lab, tmp_path / "inventories")
    return Release(lab, Service(tmp_path), staging, prod)


def test_happy_path_staging_then_production(release: Release):
    report = release.ship()
    tasks = [t for p in report["plays"] for t in p["tasks"]]
    gate = next(t for t in tasks if t["module"] == "promotion_check")
    assert gate["results"]["web1"]["status"] == "ok"
    assert "1.0.0 runs verified on all 1 hosts of staging" in gate["results"]["web1"]["msg"]
    assert release.versions(ALL_HOSTS) == dict.fromkeys(ALL_HOSTS, "1.0.0")
    for name in ALL_HOSTS:
        assert release.current_target(name) == f"{DEPLOY_PATH}/releases/1.0.0"
    for inventory, names in ((release.staging, STAGING_HOSTS), (release.prod, PROD_HOSTS)):
        rows = release.service.history(inventory)
        assert sorted(rows) == sorted(names)
        for name in names:
            assert (rows[name]["current"], rows[name]["verified"]) == ("1.0.0", True)
            assert (rows[name]["how"], rows[name]["bad"]) == ("deploy", False)
    table = release.service.deployplay("history", inventory=release.prod)
    assert table.returncode == 0, explain(table)
    assert all(f"{name}  1.0.0" in table.stdout for name in PROD_HOSTS), table.stdout


def test_a_release_failing_smoke_on_staging_never_reaches_production(
    release: Release, tmp_path: Path
):
    release.ship()
    prod_ledgers = {name: release.ledger(name) for name in PROD_HOSTS}

    release.service.release("1.1.0", bad="health")
    report = tmp_path / "staging-report.json"
    failed = release.service.run(release.staging, "--report", str(report))
    assert failed.returncode == 2, explain(failed)
    tasks = [t for p in json.loads(report.read_text())["plays"] for t in p["tasks"]]
    outcome = {(t["module"], t["handler"]): t["results"]["stg1"]["status"] for t in tasks}
    assert outcome[("smoke", False)] == "failed"
    assert outcome[("rollback", True)] == "changed"
    assert ("monitor", False) not in outcome  # the play stopped at the failed smoke
    assert release.versions(STAGING_HOSTS) == {"stg1": "1.0.0"}
    assert release.current_target("stg1") == f"{DEPLOY_PATH}/releases/1.0.0"
    row = release.service.history(release.staging)["stg1"]
    assert (row["current"], row["how"]) == ("1.0.0", "rollback")
    assert any(e["event"] == "bad" and e.get("version") == "1.1.0" for e in release.ledger("stg1"))

    refused = release.service.run(release.prod)
    assert refused.returncode == 2, explain(refused)
    # The gate names the staging host and why it falls short.
    assert "stg1: runs 1.0.0, not 1.1.0" in refused.stdout, explain(refused)
    assert release.versions(PROD_HOSTS) == dict.fromkeys(PROD_HOSTS, "1.0.0")
    for name in PROD_HOSTS:
        assert release.release_dirs(name) == ["1.0.0"]
        assert release.current_target(name) == f"{DEPLOY_PATH}/releases/1.0.0"
        assert release.ledger(name) == prod_ledgers[name]


def test_rollback_after_a_good_second_release(release: Release):
    release.ship()
    release.service.release("1.1.0")
    release.ship()
    assert release.versions(ALL_HOSTS) == dict.fromkeys(ALL_HOSTS, "1.1.0")
    rows = release.service.history(release.prod)
    assert {name: rows[name]["previous"] for name in PROD_HOSTS} == dict.fromkeys(
        PROD_HOSTS, "1.0.0"
    )

    back = release.service.deployplay("rollback", "--reason", "drill", inventory=release.prod)
    assert back.returncode == 0, explain(back)
    assert release.versions(PROD_HOSTS) == dict.fromkeys(PROD_HOSTS, "1.0.0")
    assert release.versions(STAGING_HOSTS) == {"stg1": "1.1.0"}
    rows = release.service.history(release.prod)
    for name in PROD_HOSTS:
        assert (rows[name]["current"], rows[name]["how"]) == ("1.0.0", "rollback")
        assert release.current_target(name) == f"{DEPLOY_PATH}/releases/1.0.0"
