"""monitor: watch a release for a while after the switch and fail as soon as it misbehaves."""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
from pydantic import Field, model_validator

from deployplay.modules._release import host_runner, q
from deployplay.modules.base import Module, ModuleArgs, ModuleContext, ModuleResult
from deployplay.modules.smoke import SmokeCheck, probe

_PROM_LINE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


class Monitor(Module):
    """Watch a release for `duration` seconds: probes, metrics and log lines on the host.

    Every `interval` it requests the URLs (from the controller), reads the
    metrics endpoint (JSON or Prometheus text) and counts new lines matching
    `log_pattern` in `logs` on the host. It fails as soon as the error rate,
    the p95 latency or the log count crosses its threshold, saying which and
    by how much.

        - monitor:
            duration: 60
            interval: 5
            urls: ["http://{{ host }}:8000/health"]
            metrics_url: "http://{{ host }}:8000/metrics"
            requests_metric: hello_requests_total
            errors_metric: hello_errors_total
            max_error_rate: 0.05
            max_latency_ms: 500
            logs: [/srv/hello/shared/logs/hello.log]
            log_pattern: "ERROR|Traceback"
    """

    name = "monitor"
    runs_on = "controller"

    class Args(ModuleArgs):
        duration: float = Field(gt=0, le=86400, description="seconds to watch")
        interval: float = Field(5.0, gt=0, description="seconds between rounds")
        urls: list[str | SmokeCheck] = Field(
            default_factory=list, description="URLs probed each round (or smoke-style checks)"
        )
        metrics_url: str | None = Field(None, description="read each round, JSON or Prometheus")
        metrics_format: Literal["auto", "json", "prometheus"] = "auto"
        requests_metric: str | None = Field(None, description="counter of requests")
        errors_metric: str | None = Field(None, description="counter of failed requests")
        max_error_rate: float = Field(0.05, ge=0, le=1)
        max_latency_ms: float | None = Field(None, gt=0, description="p95 of the probes")
        logs: list[str] = Field(default_factory=list, description="log files on the host")
        log_pattern: str = Field("ERROR", description="an extended regular expression")
        max_log_matches: int = Field(0, ge=0)
        timeout: float = Field(5.0, gt=0, description="per request")

        @model_validator(mode="after")
        def _metric_names(self) -> Monitor.Args:
            if self.metrics_url and not (self.requests_metric and self.errors_metric):
                raise ValueError("metrics_url needs requests_metric and errors_metric")
            return self

    def run(self, ctx: ModuleContext, args: Args) -> ModuleResult:
        if not (args.urls or args.metrics_url or args.logs):
            return ModuleResult(failed=True, msg="nothing to watch: give urls, metrics_url or logs")
        checks = [
            SmokeCheck(url=u, timeout=args.timeout) if isinstance(u, str) else u for u in args.urls
        ]
        watch = Watch(log_offsets=_log_sizes(ctx, args.logs))
        started = time.monotonic()
        deadline = started + args.duration
        with httpx.Client() as client:
            watch.metrics_base = _read_metrics(client, args)
            if args.metrics_url and watch.metrics_base is None:
                return ModuleResult(
                    failed=True, msg=f"metrics endpoint {args.metrics_url} did not answer"
                )
            while True:
                round_started = time.monotonic()
                problem = _round(ctx, client, args, checks, watch)
                ctx.progress(_progress(watch, round_started - started, args.duration))
                if problem:
                    return ModuleResult(
                        failed=True,
                        msg=f"{problem} after {round_started - started:.0f}s of {args.duration:g}s",
                        data=watch.data(),
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                time.sleep(min(args.interval, remaining))
        return ModuleResult(
            msg=f"healthy for {args.duration:g}s: {watch.summary()}", data=watch.data()
        )


@dataclass
class Watch:
    """What the monitor has seen so far."""

    log_offsets: list[int]
    metrics_base: tuple[float, float] | None = None
    probes: int = 0
    probe_errors: int = 0
    latencies: list[float] = field(default_factory=list)
    metric_requests: float = 0.0
    metric_errors: float = 0.0
    log_matches: int = 0
    rounds: int = 0
    last_problem: str = ""

    def p95(self) -> float | None:
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[max(math.ceil(0.95 * len(ordered)) - 1, 0)]

    def summary(self) -> str:
        parts = [f"{self.probe_errors}/{self.probes} probes failed"]
        if self.metrics_base is not None:
            parts.append(f"{self.metric_errors:g}/{self.metric_requests:g} requests failed")
        p95 = self.p95()
        if p95 is not None:
            parts.append(f"p95 {p95:.0f}ms")
        if self.log_offsets:
            parts.append(f"{self.log_matches} log matches")
        return ", ".join(parts)

    def data(self) -> dict[str, Any]:
        return {
            "rounds": self.rounds,
            "probes": self.probes,
            "probe_errors": self.probe_errors,
            "p95_ms": self.p95(),
            "requests": self.metric_requests,
            "errors": self.metric_errors,
            "log_matches": self.log_matches,
        }


def _round(
    ctx: ModuleContext,
    client: httpx.Client,
    args: Monitor.Args,
    checks: list[SmokeCheck],
    watch: Watch,
) -> str | None:
    """One round of probes, metrics and logs; the first threshold crossed, or None."""
    watch.rounds += 1
    for check in checks:
        outcome = probe(client, check)
        watch.probes += 1
        if outcome["latency_ms"] is not None:
            watch.latencies.append(outcome["latency_ms"])
        if not outcome["ok"]:
            watch.probe_errors += 1
            watch.last_problem = f"{check.url}: {outcome['problem']}"
    rate = watch.probe_errors / watch.probes if watch.probes else 0.0
    if rate > args.max_error_rate:
        what = f"probe error rate ({watch.probe_errors} of {watch.probes}; {watch.last_problem})"
        return _over(what, rate, args.max_error_rate, percent=True)
    p95 = watch.p95()
    if args.max_latency_ms is not None and p95 is not None and p95 > args.max_latency_ms:
        over = p95 - args.max_latency_ms
        return f"latency p95 {p95:.0f}ms over {args.max_latency_ms:g}ms by {over:.0f}ms"
    problem = _metrics_round(client, args, watch)
    if problem:
        return problem
    if watch.log_offsets:
        watch.log_matches = _count_log_matches(ctx, args, watch.log_offsets)
        if watch.log_matches > args.max_log_matches:
            return (
                f"{watch.log_matches} log lines match /{args.log_pattern}/, more than "
                f"{args.max_log_matches} by {watch.log_matches - args.max_log_matches}"
            )
    return None


def _metrics_round(client: httpx.Client, args: Monitor.Args, watch: Watch) -> str | None:
    if watch.metrics_base is None:
        return None
    now = _read_metrics(client, args)
    if now is None:
        return f"metrics endpoint {args.metrics_url} did not answer"
    watch.metric_requests = now[0] - watch.metrics_base[0]
    watch.metric_errors = now[1] - watch.metrics_base[1]
    if watch.metric_requests <= 0:
        return None
    rate = watch.metric_errors / watch.metric_requests
    if rate > args.max_error_rate:
        return _over(
            f"error rate ({watch.metric_errors:g} of {watch.metric_requests:g} requests)",
            rate,
            args.max_error_rate,
            percent=True,
        )
    return None


def _over(what: str, value: float, limit: float, *, percent: bool = False) -> str:
    if percent:
        return f"{what} {value:.1%} over {limit:.1%} by {value - limit:.1%}"
    return f"{what} {value:g} over {limit:g} by {value - limit:g}"


def _read_metrics(client: httpx.Client, args: Monitor.Args) -> tuple[float, float] | None:
    """(requests, errors) from the metrics endpoint; None if there is none or it fails."""
    if not args.metrics_url:
        return None
    try:
        response = client.get(args.metrics_url, timeout=args.timeout)
        response.raise_for_status()
    except httpx.HTTPError:
        return None
    text = response.text
    as_json = args.metrics_format == "json" or (
        args.metrics_format == "auto" and text.lstrip()[:1] in "{["
    )
    values = parse_json_metrics(text) if as_json else parse_prometheus(text)
    requests = values.get(args.requests_metric or "", 0.0)
    errors = values.get(args.errors_metric or "", 0.0)
    return requests, errors


def parse_prometheus(text: str) -> dict[str, float]:
    """Metric name -> the sum over its series (labels), from Prometheus text format."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        match = _PROM_LINE.match(line.strip())
        if not match or line.startswith("#"):
            continue
        try:
            value = float(match.group(3))
        except ValueError:
            continue
        values[match.group(1)] = values.get(match.group(1), 0.0) + value
    return values


def parse_json_metrics(text: str) -> dict[str, float]:
    """Dotted path -> number, for every number in a JSON document."""
    try:
        document = json.loads(text)
    except ValueError:
        return {}
    values: dict[str, float] = {}

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{path}.{key}" if path else str(key))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            values[path] = float(value)

    walk(document, "")
    return values


def _log_sizes(ctx: ModuleContext, logs: list[str]) -> list[int]:
    """The size of each log file now (0 if missing): only lines written later count."""
    if not logs:
        return []
    script = "; ".join(f"wc -c < {q(path)} 2>/dev/null || echo 0" for path in logs)
    result = host_runner(ctx)(script)
    sizes = [int(x) if x.strip().isdigit() else 0 for x in result.stdout.split()]
    return (sizes + [0] * len(logs))[: len(logs)]


def _count_log_matches(ctx: ModuleContext, args: Monitor.Args, offsets: list[int]) -> int:
    """Lines matching the pattern written since the start, over all files: one command."""
    parts = []
    for path, offset in zip(args.logs, offsets, strict=True):
        # A file shorter than its start size was rotated: count it from the beginning.
        parts.append(
            f'f={q(path)}; off={offset}; size=$(wc -c < "$f" 2>/dev/null || echo 0); '
            '[ "$size" -ge "$off" ] || off=0; '
            f'tail -c +$((off + 1)) "$f" 2>/dev/null | grep -cE -- {q(args.log_pattern)}; true'
        )
    result = host_runner(ctx)("\n".join(parts))
    return sum(int(x) for x in result.stdout.split() if x.isdigit())


def _progress(watch: Watch, elapsed: float, duration: float) -> str:
    return f"{min(elapsed, duration):.0f}/{duration:g}s {watch.summary()}"
