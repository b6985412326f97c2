"""promotion_check: every host of a group (or another inventory) runs the version, verified."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from test_deploy_support import make_ctx, run_module

from deployplay.modules.promotion_check import PromotionCheck
from deployplay.runner.connections.local import LocalConnection
from deployplay.runner.context import RunState
from deployplay.runner.ledger import Ledger

PATH = "/srv/promo-app"


class RootedConnection(LocalConnection):
    """A 'host' whose PATH lives under its own directory, so hosts do not share one disk."""

    def __init__(self, host: str, base: Path) -> None:
        super().__init__(host)
        self.base = base / host

    def run(self, command: str, **kwargs):  # type: ignore[override]
        return super().run(command.replace(PATH, str(self.base) + PATH), **kwargs)


@dataclass
class FakeHost:
    name: str


class FakeInventory:
    def __init__(self, groups: dict[str, list[str]]) -> None:
        self.groups = groups

    def select(self, pattern: str, limit: str | None = None) -> list[FakeHost]:
        return [FakeHost(name) for name in self.groups.get(pattern, [])]


def set_host(base: Path, host: str, version: str, *events: str) -> None:
    """Make `host` run `version` with these ledger events for it."""
    root = base / host / PATH.lstrip("/")
    (root / "releases" / version).mkdir(parents=True, exist_ok=True)
    link = root / "current"
    link.unlink(missing_ok=True)
    link.symlink_to(root / "releases" / version)
    ledger = Ledger(LocalConnection(), str(root))
    for event in events:
        ledger.append(event, version=version)


def context(tmp_path: Path, state: RunState | None = None, host: str = "prod1"):
    inventory = FakeInventory({"staging": ["s1", "s2", "s3", "s4"], "empty": []})
    return make_ctx(
        tmp_path,
        host=host,
        run_state=state,
        connection=RootedConnection(host, tmp_path),
        inventory=inventory,
        connection_for=lambda name: RootedConnection(name, tmp_path),
    )


def test_passes_when_every_host_runs_it_verified(tmp_path: Path) -> None:
    for host in ("s1", "s2", "s3", "s4"):
        set_host(tmp_path, host, "1.2.0", "deploy", "verified")
    result = run_module(
        PromotionCheck, context(tmp_path), version="v1.2.0", group="staging", path=PATH
    )
    assert not result.failed, result.msg
    assert "1.2.0 runs verified on all 4 hosts of staging" in result.msg


def test_lists_each_host_that_falls_short(tmp_path: Path) -> None:
    set_host(tmp_path, "s1", "1.2.0", "deploy", "verified")
    set_host(tmp_path, "s2", "1.1.0", "deploy", "verified")
    set_host(tmp_path, "s3", "1.2.0", "deploy")
    set_host(tmp_path, "s4", "1.2.0", "deploy", "verified", "bad")
    result = run_module(
        PromotionCheck, context(tmp_path), version="1.2.0", group="staging", path=PATH
    )
    assert result.failed
    assert "s1" not in result.msg
    assert "s2: runs 1.1.0, not 1.2.0" in result.msg
    assert "s3: 1.2.0 is not verified" in result.msg
    assert "s4: 1.2.0 is marked bad" in result.msg
    assert "--force-promotion" in result.msg
    assert result.data["hosts"]["s1"] == "ok"


def test_nothing_deployed_and_no_hosts(tmp_path: Path) -> None:
    result = run_module(
        PromotionCheck, context(tmp_path), version="1.0.0", group="staging", path=PATH
    )
    assert result.failed and "s1: nothing deployed" in result.msg
    empty = run_module(PromotionCheck, context(tmp_path), version="1.0", group="empty", path=PATH)
    assert empty.failed and "no hosts match 'empty'" in empty.msg


def test_forced_promotion_passes_loudly_and_is_recorded(tmp_path: Path) -> None:
    state = RunState(force_promotion="hotfix for incident 42")
    result = run_module(
        PromotionCheck, context(tmp_path, state), version="1.3.0", group="staging", path=PATH
    )
    assert not result.failed
    assert result.msg.startswith("PROMOTION FORCED (hotfix for incident 42)")
    events = Ledger(RootedConnection("prod1", tmp_path), PATH).events()
    assert [e["event"] for e in events] == ["promotion_forced"]
    assert events[0]["reason"] == "hotfix for incident 42" and events[0]["version"] == "1.3.0"


def test_another_inventory_file(tmp_path: Path) -> None:
    root = tmp_path / "stage-root"
    (root / "releases" / "2.0.0").mkdir(parents=True)
    (root / "current").symlink_to(root / "releases" / "2.0.0")
    Ledger(LocalConnection(), str(root)).append("verified", version="2.0.0")
    (tmp_path / "inventories").mkdir()
    (tmp_path / "inventories" / "staging.yml").write_text(
        "all:\n  hosts:\n    stage1:\n      ansible_connection: local\n"
    )
    result = run_module(
        PromotionCheck, context(tmp_path), version="2.0.0", inventory="staging", path=str(root)
    )
    assert not result.failed, result.msg
    assert "all 1 hosts of all (staging)" in result.msg
