"""The on-host deployment ledger and the deploy lock.

Each host keeps `<path>/.deployplay/history.jsonl`: one JSON object per line,
one event per line (deploy, verified, rollback, bad, failed, lock_broken,
promotion_forced). A line is appended with a single `printf '%s\\n' ... >>`
in one remote command, so two runs never interleave half lines; a reader
skips a torn last line (a run killed mid-write). The hosts are the source of
truth about what runs on them.

The lock is the directory `<path>/.deployplay/lock` made with `mkdir` (atomic
on every POSIX filesystem) with one `info` file inside naming its owner.

    ledger = Ledger(ctx.run, "/srv/hello")       # or Ledger(connection, path)
    ledger.append("verified", version="1.2.0", run_id=...)
    view = ledger.read()                         # current, previous, verified, bad
"""

from __future__ import annotations

import json
import posixpath
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from deployplay.errors import HostError

if TYPE_CHECKING:
    from deployplay.runner.context import RunState
    from deployplay.runner.results import CommandResult

LEDGER_DIR = ".deployplay"
HISTORY_FILE = "history.jsonl"
LOCK_NAME = "lock"
EVENTS = (
    "deploy",
    "verified",
    "rollback",
    "bad",
    "failed",
    "lock_broken",
    "promotion_forced",
)
# The events after which `current` points at the event's release.
SWITCH_EVENTS = ("deploy", "rollback")
_SECTION = "--deployplay-section--"

RunCommand = Callable[[str], "CommandResult"]


def q(value: str) -> str:
    """Shell-quote one word."""
    return shlex.quote(value)


def release_name(target: str | None) -> str | None:
    """The release name (version) from a `current` symlink target or a release dir."""
    if not target:
        return None
    return posixpath.basename(target.rstrip("/")) or None


def parse_events(text: str) -> list[dict[str, Any]]:
    """The events of a history file; lines that are not whole JSON objects are skipped.

    Only the last line can be torn (appends are one write each), but a
    hand-edited file may hold other junk; skipping it beats failing a deploy.
    """
    events: list[dict[str, Any]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and isinstance(event.get("event"), str):
            events.append(event)
    return events


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def make_event(event: str, run_state: RunState | None = None, **fields: Any) -> dict[str, Any]:
    """One ledger record: event, time, who ran it from where, then the given fields."""
    if event not in EVENTS:
        raise ValueError(f"unknown ledger event {event!r}")
    record: dict[str, Any] = {"event": event, "time": now_iso()}
    if run_state is not None:
        record.update(run_id=run_state.run_id, user=run_state.user, controller=run_state.controller)
    record.update({k: v for k, v in fields.items() if v is not None})
    return record


def append_command(history_path: str, record: dict[str, Any]) -> str:
    """A shell snippet that appends one record as one line with one write."""
    line = json.dumps(record, ensure_ascii=True, separators=(",", ":"))
    return f"printf '%s\\n' {q(line)} >> {q(history_path)}"


@dataclass(slots=True)
class LedgerView:
    """What a host's ledger and `current` symlink say, computed without more remote commands."""

    events: list[dict[str, Any]]
    current_target: str | None = None
    releases: list[str] = field(default_factory=list)

    @property
    def current(self) -> str | None:
        """The current release's name (readlink current), None before the first deploy."""
        return release_name(self.current_target)

    @property
    def bad(self) -> set[str]:
        """Releases marked bad (rolled back), unless pushed again with force since."""
        bad: set[str] = set()
        for event in self.events:
            version = event.get("version")
            if not isinstance(version, str):
                continue
            if event["event"] == "bad":
                bad.add(version)
            elif event["event"] == "deploy" and event.get("forced"):
                bad.discard(version)
        return bad

    @property
    def verified(self) -> set[str]:
        return {
            e["version"]
            for e in self.events
            if e["event"] == "verified" and isinstance(e.get("version"), str)
        }

    @property
    def newest_verified(self) -> str | None:
        """The release verified most recently that is not marked bad."""
        bad = self.bad
        for event in reversed(self.events):
            version = event.get("version")
            if event["event"] == "verified" and version not in bad:
                return version if isinstance(version, str) else None
        return None

    def history_of_current(self) -> list[str]:
        """The releases `current` pointed at, oldest first, from the switch events."""
        return [
            e["version"]
            for e in self.events
            if e["event"] in SWITCH_EVENTS and isinstance(e.get("version"), str)
        ]

    @property
    def previous(self) -> str | None:
        """The release that was current before the current one, skipping bad ones.

        The target of `deployplay rollback` outside a deploy; None when there is none.
        """
        current, bad = self.current, self.bad
        for version in reversed(self.history_of_current()):
            if version != current and version not in bad:
                return version
        return None

    def last(self, event: str, version: str | None = None) -> dict[str, Any] | None:
        for record in reversed(self.events):
            if record["event"] == event and (version is None or record.get("version") == version):
                return record
        return None


@dataclass(slots=True)
class LockState:
    """The outcome of trying to take the lock."""

    taken: bool
    info: dict[str, Any] = field(default_factory=dict)
    age_s: float | None = None


class Ledger:
    """One host's ledger and lock under a deploy root, through `run(command)` on that host."""

    def __init__(self, target: RunCommand | Any, path: str) -> None:
        # A Connection or a ModuleContext has .run; a plain callable is used as it is.
        self._run: RunCommand = target.run if hasattr(target, "run") else target
        self.path = path.rstrip("/") or "/"
        self.dir = posixpath.join(self.path, LEDGER_DIR)
        self.history_path = posixpath.join(self.dir, HISTORY_FILE)
        self.lock_path = posixpath.join(self.dir, LOCK_NAME)

    def append_script(self, *records: dict[str, Any]) -> str:
        """Shell lines that create the ledger dir and append each record (one write each)."""
        lines = [f"mkdir -p {q(self.dir)}"]
        lines += [append_command(self.history_path, record) for record in records]
        return " && ".join(lines)

    def append(
        self, event: str, run_state: RunState | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Append one event in one remote command; returns the record written."""
        record = make_event(event, run_state, **fields)
        self._check(self._run(self.append_script(record)), "append to the ledger")
        return record

    def events(self) -> list[dict[str, Any]]:
        result = self._run(f"cat {q(self.history_path)} 2>/dev/null || true")
        return parse_events(result.stdout)

    def read_script(self) -> str:
        """One script printing `current`'s target, the release names and the history."""
        root = q(self.path)
        return (
            f"readlink {root}/current 2>/dev/null; echo {_SECTION}; "
            f"ls -1 {root}/releases 2>/dev/null; echo {_SECTION}; "
            f"cat {q(self.history_path)} 2>/dev/null; true"
        )

    def read(self) -> LedgerView:
        """current, the releases on disk and the history, in one remote command."""
        result = self._run(self.read_script())
        self._check(result, "read the ledger")
        return parse_view(result.stdout)

    def current_release(self) -> str | None:
        return self.read().current

    def previous_release(self) -> str | None:
        return self.read().previous

    def verified(self) -> set[str]:
        return self.read().verified

    def bad(self) -> set[str]:
        return self.read().bad

    def _check(self, result: CommandResult, what: str) -> None:
        if result.failed:
            said = (result.stderr or result.stdout).strip().splitlines()[-3:]
            detail = f": {' / '.join(said)}" if said else ""
            raise HostError(
                f"could not {what} at {self.path} (exit code {result.exit_code}){detail}"
            )

    # --- the lock ---------------------------------------------------------------

    def take_lock(self, info: dict[str, Any]) -> LockState:
        """mkdir the lock with `info` inside; if held, report who holds it and for how long."""
        lock, info_file = q(self.lock_path), q(posixpath.join(self.lock_path, "info"))
        script = f"mkdir -p {q(self.dir)} || exit 3\n" + _mkdir_or_report(lock, info_file, info)
        result = self._run(script)
        self._check(result, "take the lock")
        return _parse_lock_output(result.stdout)

    def break_lock(
        self, stale: dict[str, Any], info: dict[str, Any], record: dict[str, Any]
    ) -> LockState:
        """Remove a stale lock (only if it is still the one we saw), take it, record lock_broken."""
        lock, info_file = q(self.lock_path), q(posixpath.join(self.lock_path, "info"))
        aside = q(f"{self.lock_path}.broken.{info.get('run_id', 'x')}")
        stale_id = stale.get("run_id")
        same = (
            f"grep -qF {q(json.dumps({'run_id': stale_id})[1:-1])} {info_file} 2>/dev/null"
            if stale_id
            else f"[ ! -s {info_file} ]"
        )
        script = f"if {same}; then mv {lock} {aside} && rm -rf {aside}; fi\n" + _mkdir_or_report(
            lock, info_file, info, then=append_command(self.history_path, record)
        )
        result = self._run(script)
        self._check(result, "break the stale lock")
        return _parse_lock_output(result.stdout)

    def peek_lock(self) -> LockState | None:
        """Who holds the lock, without touching it (check mode); None when it is free."""
        lock, info_file = q(self.lock_path), q(posixpath.join(self.lock_path, "info"))
        result = self._run(f"if [ -d {lock} ]; then {_report_holder(lock, info_file)}; fi; true")
        self._check(result, "read the lock")
        if not result.stdout.startswith("held"):
            return None
        return _parse_lock_output(result.stdout)

    def release_lock(self, run_id: str) -> bool:
        """Remove the lock if this run holds it; True when it was removed."""
        info_file = q(posixpath.join(self.lock_path, "info"))
        marker = q(json.dumps({"run_id": run_id})[1:-1])
        result = self._run(
            f"if grep -qF {marker} {info_file} 2>/dev/null; "
            f"then rm -rf {q(self.lock_path)} && echo released; fi; true"
        )
        return "released" in result.stdout


def _report_holder(lock: str, info_file: str) -> str:
    """Shell that prints what _parse_lock_output reads: held, now, the lock's mtime, its info."""
    mtime = f"stat -c %Y {lock} 2>/dev/null || echo 0"
    return f"echo held; date +%s; {mtime}; cat {info_file} 2>/dev/null"


def _mkdir_or_report(lock: str, info_file: str, info: dict[str, Any], then: str = "") -> str:
    """Shell that takes the lock with `info` inside (then runs `then`), or reports its holder."""
    line = json.dumps(info, ensure_ascii=True)
    after = f"{then} && " if then else ""
    return (
        f"if mkdir {lock} 2>/dev/null; then\n"
        f"  printf '%s\\n' {q(line)} > {info_file} && {after}echo taken\n"
        f"else\n"
        f"  {_report_holder(lock, info_file)}; true\n"
        f"fi"
    )


def parse_view(stdout: str) -> LedgerView:
    """The output of Ledger.read_script() as a LedgerView."""
    parts = stdout.split(_SECTION + "\n")
    while len(parts) < 3:
        parts.append("")
    target = parts[0].strip() or None
    releases = sorted(
        name for name in (n.strip() for n in parts[1].splitlines()) if name and name[0] != "."
    )
    return LedgerView(events=parse_events(parts[2]), current_target=target, releases=releases)


def _parse_lock_output(stdout: str) -> LockState:
    lines = stdout.splitlines()
    if lines and lines[0].strip() == "taken":
        return LockState(taken=True)
    info: dict[str, Any] = {}
    now = _int(lines[1]) if len(lines) > 1 else 0
    mtime = _int(lines[2]) if len(lines) > 2 else 0
    for event in _json_objects(lines[3:]):
        info = event
    age: float | None = None
    if now and mtime:
        age = float(now - mtime)
    elif now and isinstance(info.get("epoch"), int | float):
        age = float(now - info["epoch"])
    return LockState(taken=False, info=info, age_s=age)


def _json_objects(lines: Iterable[str]) -> Iterable[dict[str, Any]]:
    for line in lines:
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            yield value


def _int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        return 0
