"""smoke: check that a freshly switched release answers, and record it as verified."""

from __future__ import annotations

import posixpath
import re
import time
from typing import Any

import httpx
from pydantic import Field

from deployplay.modules._release import MARKER_FILE, host_runner, parse_marker, q
from deployplay.modules.base import Module, ModuleArgs, ModuleContext, ModuleResult
from deployplay.runner.ledger import Ledger, release_name

_SECTION = "--deployplay-marker--"


class SmokeCheck(ModuleArgs):
    """One request and what its answer must look like."""

    url: str
    method: str = "GET"
    status: int | list[int] = 200
    expect_json: dict[str, Any] | None = Field(
        None, alias="json", description="a subset the JSON body must contain"
    )
    body: str | None = Field(None, description="a regular expression the body must match")
    max_latency_ms: float | None = Field(None, gt=0)
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: float = Field(5.0, gt=0)


class Smoke(Module):
    """Request health and version URLs until they answer as expected; mark the release verified.

    Each URL is retried (`retries` times, `delay` seconds apart) while the
    service comes up. On success, when `path` names the deploy root, the
    host's current release is recorded as `verified` in its ledger (not in
    check mode), which is what `promotion_check` looks for.

        - smoke:
            path: /srv/hello
            urls:
              - "http://{{ host }}:8000/health"
              - {url: "http://{{ host }}:8000/version", json: {version: "{{ version }}"},
                 max_latency_ms: 500}
    """

    name = "smoke"
    supports_check_mode = True
    read_only = True
    runs_on = "controller"

    class Args(ModuleArgs):
        urls: list[str | SmokeCheck] = Field(
            min_length=1,
            description="URLs, or checks {url, method, status, json, body, max_latency_ms, "
            "headers, timeout}",
        )
        retries: int = Field(10, ge=0, description="retries of a failing check")
        delay: float = Field(1.0, ge=0, description="seconds between retries")
        path: str | None = Field(None, description="deploy root: record `verified` there")
        validate_certs: bool = True

    def run(self, ctx: ModuleContext, args: Args) -> ModuleResult:
        checks = [SmokeCheck(url=u) if isinstance(u, str) else u for u in args.urls]
        outcomes: dict[int, dict[str, Any]] = {}
        pending = list(range(len(checks)))
        with httpx.Client(verify=args.validate_certs) as client:
            for attempt in range(args.retries + 1):
                if attempt:
                    time.sleep(args.delay)
                for index in list(pending):
                    outcome = probe(client, checks[index])
                    outcome["attempts"] = attempt + 1
                    _remember_problems(outcome, outcomes.get(index))
                    outcomes[index] = outcome
                    if outcome["ok"]:
                        pending.remove(index)
                if not pending:
                    break
        results = [outcomes[i] for i in range(len(checks))]
        if pending:
            problems = "; ".join(
                f"{r['url']}: {' / '.join(r['problems'])}" for r in results if not r["ok"]
            )
            tries = args.retries + 1
            msg = f"smoke failed after {tries} attempt{'s' * (tries > 1)}: {problems}"
            if args.path and not ctx.check_mode:
                _record(ctx, args.path, "failed", step="smoke", reason=msg)
            return ModuleResult(failed=True, msg=msg, data={"checks": results})
        msg = f"{len(checks)} check{'s' * (len(checks) > 1)} passed"
        data: dict[str, Any] = {"checks": results}
        if args.path and not ctx.check_mode:
            version = _record(ctx, args.path, "verified")
            data["verified"] = version
            msg += f"; release {version} verified" if version else "; no current release to mark"
        return ModuleResult(msg=msg, data=data)


def _remember_problems(outcome: dict[str, Any], before: dict[str, Any] | None) -> None:
    """Keep every distinct problem seen over the attempts: a flapping release shows them all."""
    problems = list(before.get("problems", [])) if before else []
    if outcome.get("problem") and outcome["problem"] not in problems:
        problems.append(outcome["problem"])
    outcome["problems"] = problems


def probe(client: httpx.Client, check: SmokeCheck) -> dict[str, Any]:
    """One request; the outcome says ok or what was wrong, with status and latency."""
    outcome: dict[str, Any] = {"url": check.url, "ok": False, "status": None, "latency_ms": None}
    started = time.monotonic()
    try:
        response = client.request(
            check.method, check.url, headers=check.headers, timeout=check.timeout
        )
    except httpx.HTTPError as exc:
        outcome["problem"] = f"no answer ({type(exc).__name__}: {exc})"
        return outcome
    latency = (time.monotonic() - started) * 1000
    outcome.update(status=response.status_code, latency_ms=round(latency, 1))
    problem = _judge(check, response, latency)
    outcome["ok"] = problem is None
    if problem:
        outcome["problem"] = problem
    return outcome


def _judge(check: SmokeCheck, response: httpx.Response, latency_ms: float) -> str | None:
    wanted = check.status if isinstance(check.status, list) else [check.status]
    if response.status_code not in wanted:
        return f"status {response.status_code}, expected {' or '.join(map(str, wanted))}"
    if check.expect_json is not None:
        try:
            body = response.json()
        except ValueError:
            return "body is not JSON"
        missing = json_mismatch(check.expect_json, body)
        if missing:
            return missing
    if check.body is not None and not re.search(check.body, response.text):
        return f"body does not match /{check.body}/"
    if check.max_latency_ms is not None and latency_ms > check.max_latency_ms:
        over = latency_ms - check.max_latency_ms
        return f"latency {latency_ms:.0f}ms over {check.max_latency_ms:g}ms by {over:.0f}ms"
    return None


def json_mismatch(expected: Any, actual: Any, where: str = "") -> str | None:
    """None when `expected` is a subset of `actual` (dicts by key, the rest by equality)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{where or 'body'} is not an object"
        for key, value in expected.items():
            path = f"{where}.{key}" if where else str(key)
            if key not in actual:
                return f"JSON has no {path}"
            problem = json_mismatch(value, actual[key], path)
            if problem:
                return problem
        return None
    if expected != actual and str(expected) != str(actual):
        return f"JSON {where or 'body'} is {actual!r}, expected {expected!r}"
    return None


def _record(ctx: ModuleContext, path: str, event: str, **fields: Any) -> str | None:
    """Record `event` for the host's current release: read it, then append one line."""
    run = host_runner(ctx)
    ledger = Ledger(run, path)
    current = posixpath.join(ledger.path, "current")
    result = run(
        f"readlink {q(current)}; echo {_SECTION}; cat {q(current)}/{MARKER_FILE} 2>/dev/null; true"
    )
    target, _, marker_text = result.stdout.partition(_SECTION + "\n")
    version = release_name(target.strip())
    if version is None:
        return None
    marker = parse_marker(marker_text)
    ledger.append(
        event,
        ctx.run_state,
        version=version,
        commit=marker.get("commit"),
        release=target.strip(),
        host=ctx.host,
        **fields,
    )
    return version
