"""lock: take a host's deploy lock for the rest of the run."""

from __future__ import annotations

import os
import time
from typing import Any, Literal

from pydantic import Field

from deployplay.modules.base import Module, ModuleArgs, ModuleContext, ModuleResult
from deployplay.runner.ledger import Ledger, LockState, make_event, now_iso


class Lock(Module):
    """Take the deploy lock on the host: an atomic `mkdir <path>/.deployplay/lock`.

    The lock names its owner (user, controller, pid, run id, time and a
    message) and is held until the end of the run — through smoke, monitor
    and failure handlers — then released, on failure and Ctrl-C too. A lock
    held by another live run is an error naming its owner and age. A lock
    older than `ttl` left by a dead run is broken only with `break_stale:
    true`, and the ledger records that. Taking a lock this run holds is `ok`.

        - lock: {path: /srv/hello, message: "release {{ version }}", break_stale: true}
    """

    name = "lock"
    supports_check_mode = True

    class Args(ModuleArgs):
        path: str = Field(description="the deploy root on the host")
        message: str | None = Field(None, description="why the host is locked, shown to others")
        ttl: float = Field(3600, gt=0, description="seconds after which a lock may be stale")
        break_stale: bool = Field(False, description="break a stale lock of a dead run")
        state: Literal["present", "absent"] = Field(
            "present", description="absent: release this run's lock now"
        )

    def run(self, ctx: ModuleContext, args: Args) -> ModuleResult:
        ledger = Ledger(ctx.run, args.path)
        notes = ctx.run_state.host(ctx.host)
        key = ("lock", ledger.path)
        if args.state == "absent":
            if ctx.check_mode:
                return ModuleResult(changed=bool(notes.get(key)), msg="would release the lock")
            released = ledger.release_lock(ctx.run_state.run_id)
            notes.pop(key, None)
            return ModuleResult(changed=released, msg="released" if released else "not held")
        if notes.get(key):
            return ModuleResult(msg=f"this run already holds the lock at {ledger.lock_path}")
        if ctx.check_mode:
            return _plan(ctx, args, ledger)
        info = _info(ctx, args)
        state = ledger.take_lock(info)
        broken: dict[str, Any] | None = None
        ours = not state.taken and state.info.get("run_id") == ctx.run_state.run_id
        if not state.taken and not ours:
            refusal = _refusal(ctx, args, state)
            if refusal is not None:
                return refusal
            broken = {**state.info, "age_s": state.age_s}
            record = make_event(
                "lock_broken",
                ctx.run_state,
                host=ctx.host,
                stale_owner=_owner(state.info),
                stale_run_id=state.info.get("run_id"),
                stale_age_s=state.age_s,
            )
            state = ledger.break_lock(state.info, info, record)
            if not state.taken:
                return ModuleResult(failed=True, msg=f"lost the race for the lock: {_held(state)}")
        notes[key] = True
        run_id = ctx.run_state.run_id
        ctx.run_state.at_end(
            ctx.host, f"release the lock at {ledger.lock_path}", lambda: _release(ledger, run_id)
        )
        if ours:  # taken by an earlier task of this run whose notes were lost
            return ModuleResult(msg=f"this run already holds the lock at {ledger.lock_path}")
        msg = f"locked {ledger.lock_path}"
        if broken is not None:
            msg += f" (broke the stale lock of {_owner(broken)}, {_age(broken['age_s'])} old)"
        # A lock held for the run and released at its end leaves the host as it was: `ok`,
        # so a rerun that deploys nothing reads all ok. Breaking a stale lock is a change.
        changed = broken is not None
        return ModuleResult(changed=changed, msg=msg, data={"lock": ledger.lock_path, **info})


def _plan(ctx: ModuleContext, args: Lock.Args, ledger: Ledger) -> ModuleResult:
    """Check mode: whether the lock could be taken, reading it only."""
    held = ledger.peek_lock()
    if held is None or held.info.get("run_id") == ctx.run_state.run_id:
        return ModuleResult(msg=f"would take the lock at {ledger.lock_path}")
    refusal = _refusal(ctx, args, held)
    if refusal is not None:
        return refusal
    return ModuleResult(changed=True, msg=f"would break the stale lock: {_held(held)}")


def _release(ledger: Ledger, run_id: str) -> None:
    ledger.release_lock(run_id)


def _info(ctx: ModuleContext, args: Lock.Args) -> dict[str, Any]:
    state = ctx.run_state
    return {
        "run_id": state.run_id,
        "owner": state.user,
        "controller": state.controller,
        "pid": os.getpid(),
        "host": ctx.host,
        "time": now_iso(),
        "epoch": int(time.time()),
        "message": args.message,
    }


def _refusal(ctx: ModuleContext, args: Lock.Args, state: LockState) -> ModuleResult | None:
    """None when the held lock may be broken; else the failure that says who holds it."""
    age = state.age_s
    if _alive(ctx, state.info):
        return ModuleResult(failed=True, msg=f"{_held(state)}; that run is still alive")
    if age is None or age <= args.ttl:
        return ModuleResult(
            failed=True, msg=f"{_held(state)}; wait for it, or ask its owner (ttl {args.ttl:g}s)"
        )
    if not args.break_stale:
        return ModuleResult(
            failed=True,
            msg=f"{_held(state)}, older than ttl {args.ttl:g}s: if that run is dead, "
            "run again with break_stale: true",
        )
    return None


def _alive(ctx: ModuleContext, info: dict[str, Any]) -> bool:
    """True when the holder is a run on this controller whose process still exists.

    A run on another controller cannot be checked from here: its age decides.
    """
    pid = info.get("pid")
    if info.get("controller") != ctx.run_state.controller or not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner(info: dict[str, Any]) -> str:
    if not info:
        return "an unknown run (no info file)"
    who = f"{info.get('owner', '?')}@{info.get('controller', '?')}"
    return f"{who} (run {info.get('run_id', '?')}, pid {info.get('pid', '?')})"


def _held(state: LockState) -> str:
    text = f"locked by {_owner(state.info)} for {_age(state.age_s)}"
    if state.info.get("message"):
        text += f": {state.info['message']}"
    return text


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "an unknown time"
    seconds = int(max(seconds, 0))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
