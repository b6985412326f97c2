"""rollback: switch a host's `current` back to the release it ran before."""

from __future__ import annotations

import time

from pydantic import Field

from deployplay.modules._release import normalize_version, q, release_dir, switch_script
from deployplay.modules.base import Module, ModuleArgs, ModuleContext, ModuleResult
from deployplay.runner.ledger import Ledger, LedgerView, make_event
from deployplay.runner.results import tail


class Rollback(Module):
    """Switch `<path>/current` back to the release that was current before this run switched it.

    As a failure handler it undoes what `push` did in this run on this host;
    where this run switched nothing (say `lock` failed because another run
    holds the host) it changes nothing, so it never moves a host another run
    is deploying. `to: <version>` names the target; `from_ledger: true` (what
    `deployplay rollback` uses) takes the ledger's previous release. The
    switch is atomic, `restart` runs, `verify_url` is checked if given, the
    rollback is recorded and the release it left is marked bad.

        handlers:
          - name: rollback
            rollback: {path: /srv/hello, restart: bin/stop && bin/start,
                       verify_url: "http://{{ host }}:8000/health"}
    """

    name = "rollback"
    supports_check_mode = True

    class Args(ModuleArgs):
        path: str = Field(description="the deploy root on the host")
        to: str | None = Field(None, description="the release to go back to")
        from_ledger: bool = Field(False, description="target the ledger's previous release")
        restart: str | None = Field(None, description="run in the release after the switch")
        verify_url: str | None = Field(None, description="a URL that must answer after restart")
        verify_status: int = 200
        verify_retries: int = Field(10, ge=0)
        verify_delay: float = Field(1.0, ge=0)
        reason: str | None = Field(None, description="recorded in the ledger")

    def run(self, ctx: ModuleContext, args: Args) -> ModuleResult:
        root = args.path.rstrip("/") or "/"
        ledger = Ledger(ctx.run, root)
        view = ledger.read()
        switched = ctx.run_state.host(ctx.host).get(("switched", root))
        target, why = _target(view, args, switched)
        if target is None:
            return ModuleResult(failed=why.startswith("!"), msg=why.lstrip("!"))
        if target not in view.releases:
            return ModuleResult(
                failed=True,
                msg=f"cannot roll back to {target}: {release_dir(root, target)} is gone",
            )
        left = view.current
        if left == target:
            return ModuleResult(msg=f"release {target} is already current; nothing to roll back")
        data = {"version": target, "from": left, "release_dir": release_dir(root, target)}
        if ctx.check_mode:
            return ModuleResult(
                changed=True, msg=f"would roll back from {left} to {target} ({why})", data=data
            )
        result = ctx.run(_script(ctx, args, ledger, target, left))
        if switched is not None:
            switched["rolled_back"] = True
        if result.failed:
            moved = "deployplay: switched" in result.stdout
            return ModuleResult(
                failed=True,
                changed=moved,
                msg=f"rollback to {target} failed: {tail(result.stderr or result.stdout, 10)}",
                data=data,
            )
        msg = f"rolled back from {left} to {target} ({why}); {left} marked bad"
        if args.verify_url:
            problem = _verify(args)
            if problem:
                return ModuleResult(
                    failed=True, changed=True, msg=f"{msg}, but {problem}", data=data
                )
            msg += f"; {args.verify_url} answers {args.verify_status}"
        return ModuleResult(changed=True, msg=msg, data=data)


def _target(view: LedgerView, args: Rollback.Args, switched: dict | None) -> tuple[str | None, str]:
    """The release to go back to and why; (None, message) when there is nothing to do.

    A message starting with "!" is a failure; otherwise it is an `ok` no-op.
    """
    if args.to:
        return normalize_version(args.to), f"to {normalize_version(args.to)} as asked"
    if switched is not None:
        before, after = switched.get("from"), switched.get("to")
        if view.current != after:
            if view.current == before:
                return None, f"already back on {before}: nothing to roll back"
            return None, (
                f"current is {view.current}, not {after} which this run switched to; "
                "left alone (another run may have moved it)"
            )
        if before is None:
            return None, f"!nothing to roll back to: {after} was the first release on this host"
        return before, "the release before this run's switch"
    if args.from_ledger:
        if view.previous is None:
            return None, (
                f"!nothing to roll back to: the ledger names no release before {view.current} "
                "that is not marked bad (use to: <version>)"
            )
        return view.previous, "the ledger's previous release"
    return None, (
        "this run switched nothing on this host: nothing to roll back "
        "(another run may be deploying it); rollback left it alone"
    )


def _script(
    ctx: ModuleContext, args: Rollback.Args, ledger: Ledger, target: str, left: str | None
) -> str:
    """Switch, record the rollback and the bad release, restart: one command."""
    rollback = make_event(
        "rollback",
        ctx.run_state,
        version=target,
        release=release_dir(ledger.path, target),
        host=ctx.host,
        reason=args.reason,
        **{"from": left},
    )
    records = [rollback]
    if left:
        bad = make_event(
            "bad", ctx.run_state, version=left, host=ctx.host, reason=args.reason or "rolled back"
        )
        records.append(bad)
    lines = [
        switch_script(ledger.path, target, ctx.run_state.run_id),
        "echo 'deployplay: switched'",
        f"{ledger.append_script(*records)} || echo 'deployplay: could not write the ledger' >&2",
    ]
    if args.restart:
        rel = q(release_dir(ledger.path, target))
        lines.append(
            f"( cd {rel} && {args.restart} ) || {{ rc=$?; "
            f"echo 'deployplay: restart failed: '{q(args.restart)} >&2; exit $rc; }}"
        )
    return "\n".join(lines)


def _verify(args: Rollback.Args) -> str | None:
    """None when the URL answers the expected status within the retries, else what went wrong."""
    import httpx

    from deployplay.modules.smoke import SmokeCheck, probe

    check = SmokeCheck(url=args.verify_url or "", status=args.verify_status)
    with httpx.Client() as client:
        for attempt in range(args.verify_retries + 1):
            if attempt:
                time.sleep(args.verify_delay)
            outcome = probe(client, check)
            if outcome["ok"]:
                return None
    if outcome["status"] is None:
        return f"{args.verify_url} did not answer: {outcome['problem']}"
    return f"{args.verify_url} answered {outcome['status']}, not {args.verify_status}"
