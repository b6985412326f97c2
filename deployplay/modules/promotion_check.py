"""promotion_check: refuse a version that has not been verified on staging."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from pydantic import Field, model_validator

from deployplay.errors import DeployplayError
from deployplay.modules._release import host_runner, normalize_version
from deployplay.modules.base import Module, ModuleArgs, ModuleContext, ModuleResult
from deployplay.runner.ledger import Ledger, LedgerView


class PromotionCheck(Module):
    """Fail unless every host of a group (or of another inventory) runs `version`, verified.

    Each host's ledger is read over its own connection: the host must have
    `version` as its current release, recorded `verified` (by `smoke`) and not
    marked bad. The message lists each host that falls short and why. With
    `--force-promotion REASON` the task passes loudly and the override is
    recorded in this host's ledger as `promotion_forced`.

        - promotion_check:
            inventory: staging
            version: "{{ version }}"
            path: /srv/hello
          run_once: true
    """

    name = "promotion_check"
    supports_check_mode = True
    read_only = True
    runs_on = "controller"

    class Args(ModuleArgs):
        version: str = Field(description="the version that must be running and verified")
        path: str = Field(description="the deploy root on those hosts")
        group: str | None = Field(None, description="a group or pattern of this inventory")
        inventory: str | None = Field(None, description="another inventory (name or file)")

        @model_validator(mode="after")
        def _somewhere(self) -> PromotionCheck.Args:
            if not self.group and not self.inventory:
                raise ValueError("give group (this inventory) or inventory (e.g. staging)")
            return self

    def run(self, ctx: ModuleContext, args: Args) -> ModuleResult:
        version = normalize_version(args.version)
        where = args.inventory or "this inventory"
        pattern = args.group or "all"
        try:
            hosts, connect = _hosts(ctx, args, pattern)
        except DeployplayError as exc:
            return ModuleResult(failed=True, msg=f"cannot read {where}: {exc}")
        if not hosts:
            return ModuleResult(failed=True, msg=f"no hosts match {pattern!r} in {where}")
        states: dict[str, str] = {}
        short: list[str] = []
        try:
            for name in hosts:
                problem = _host_problem(connect, name, args.path, version)
                states[name] = problem or "ok"
                if problem:
                    short.append(f"{name}: {problem}")
        finally:
            _close_opened(connect)
        data: dict[str, Any] = {"version": version, "hosts": states}
        if not short:
            return ModuleResult(
                msg=f"{version} runs verified on all {len(hosts)} hosts of {pattern} ({where})",
                data=data,
            )
        reason = ctx.run_state.force_promotion
        summary = f"{version} is not verified on {pattern} ({where}): " + "; ".join(short)
        if not reason:
            return ModuleResult(
                failed=True,
                msg=f"{summary}. Deploy and verify it there first, "
                "or override with --force-promotion REASON",
                data=data,
            )
        data["forced"] = reason
        if not ctx.check_mode:
            Ledger(host_runner(ctx), args.path).append(
                "promotion_forced",
                ctx.run_state,
                version=version,
                host=ctx.host,
                reason=reason,
                short=short,
            )
        return ModuleResult(
            msg=f"PROMOTION FORCED ({reason}) — {summary}",
            data=data,
        )


Connect = Callable[[str], Any]


def _hosts(
    ctx: ModuleContext, args: PromotionCheck.Args, pattern: str
) -> tuple[list[str], Connect]:
    """The host names to check and a way to open a connection to each."""
    if not args.inventory:
        if ctx.connection_for is None:
            raise DeployplayError("no way to reach other hosts from this task")
        return [h.name for h in ctx.inventory.select(pattern)], ctx.connection_for
    from deployplay.runner.connections import open_connection
    from deployplay.runner.context import RunOptions
    from deployplay.runner.inventory import Inventory

    inventory = Inventory.load(args.inventory, playbook_dir=ctx.playbook_dir)
    options = ctx.options or RunOptions()
    opened: dict[str, Any] = {}

    def connect(name: str) -> Any:
        if name not in opened:
            opened[name] = open_connection(inventory.connection_settings(name), options)
        return opened[name]

    connect.opened = opened  # type: ignore[attr-defined]  # closed by _close_opened
    return [h.name for h in inventory.select(pattern)], connect


def _close_opened(connect: Connect) -> None:
    """Close the connections this task opened to another inventory's hosts (not the run's)."""
    for connection in getattr(connect, "opened", {}).values():
        with contextlib.suppress(DeployplayError):
            connection.close()


def _host_problem(connect: Connect, name: str, path: str, version: str) -> str | None:
    """Why this host falls short, or None."""
    try:
        view = Ledger(connect(name), path).read()
    except DeployplayError as exc:
        return f"unreachable ({exc})"
    return view_problem(view, version)


def view_problem(view: LedgerView, version: str) -> str | None:
    if view.current is None:
        return "nothing deployed"
    if normalize_version(view.current) != version:
        return f"runs {view.current}, not {version}"
    if version in view.bad:
        return f"{version} is marked bad (rolled back)"
    if version not in view.verified:
        return f"{version} is not verified (no successful smoke)"
    return None
