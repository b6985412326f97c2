"""FakeConnection: a Connection for tests that records every call and answers from a script.

    conn = FakeConnection("web1")
    conn.on(r"^systemctl restart", exit_code=1, stderr="unit not found")
    conn.on(r"git archive", raises=UnreachableError("web1 dropped off"), times=1)
    conn.files["/srv/app/VERSION"] = b"1.2.3\\n"
    module.run(ctx_with(conn), args)
    assert conn.commands() == [...]

Rules are tried in the order they were added; the first whose regex matches
the command (re.search) answers. A rule with `times` answers that many calls
and then steps aside. Unmatched commands get the default: exit 0, no output.
`unreachable = True` makes every call raise UnreachableError.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from deployplay.errors import CommandTimeout, UnreachableError
from deployplay.runner.results import CommandResult

CallKind = Literal["run", "put", "get", "close"]


@dataclass(frozen=True, slots=True)
class FakeCall:
    """One call made on a FakeConnection, as data a test can assert on."""

    kind: CallKind
    target: str  # the command for run, the remote path for put/get, "" for close
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class FakeRule:
    pattern: re.Pattern[str]
    exit_code: int = 0
    stdout: str = ""
    stderr: str = ""
    raises: BaseException | None = None
    times: int | None = None


class FakeConnection:
    """Implements the Connection protocol from scripted answers; see the module docstring."""

    def __init__(
        self,
        host: str = "fake",
        *,
        files: dict[str, bytes] | None = None,
        default: CommandResult | None = None,
    ) -> None:
        self.host = host
        self.files: dict[str, bytes] = dict(files or {})
        self.modes: dict[str, int] = {}
        self.calls: list[FakeCall] = []
        self.rules: list[FakeRule] = []
        self.default = default
        self.unreachable = False
        self.closed = False

    def on(
        self,
        pattern: str,
        *,
        exit_code: int = 0,
        stdout: str = "",
        stderr: str = "",
        raises: BaseException | None = None,
        times: int | None = None,
    ) -> FakeConnection:
        """Answer commands matching `pattern` (re.search) with this result or exception."""
        rule = FakeRule(re.compile(pattern), exit_code, stdout, stderr, raises, times)
        self.rules.append(rule)
        return self

    def timeout_on(self, pattern: str, *, times: int | None = None) -> FakeConnection:
        return self.on(
            pattern, raises=CommandTimeout(f"command timed out: /{pattern}/"), times=times
        )

    def unreachable_on(self, pattern: str, *, times: int | None = None) -> FakeConnection:
        message = f"{self.host} is unreachable (scripted for /{pattern}/)"
        return self.on(pattern, raises=UnreachableError(message), times=times)

    def commands(self) -> list[str]:
        """The commands run so far, in order."""
        return [call.target for call in self.calls if call.kind == "run"]

    def run(
        self,
        command: str,
        *,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        timeout: float | None = None,
        stdin: bytes | IO[bytes] | None = None,
        become: bool = False,
        become_user: str | None = None,
    ) -> CommandResult:
        data = stdin if isinstance(stdin, bytes | None) else stdin.read()
        options = {
            "env": env,
            "cwd": cwd,
            "timeout": timeout,
            "stdin": data,
            "become": become,
            "become_user": become_user,
        }
        self._record("run", command, options)
        rule = self._match(command)
        if rule is None:
            if self.default is not None:
                return CommandResult(
                    command,
                    self.default.exit_code,
                    self.default.stdout,
                    self.default.stderr,
                )
            return CommandResult(command=command, exit_code=0)
        if rule.raises is not None:
            raise rule.raises
        return CommandResult(command, rule.exit_code, rule.stdout, rule.stderr)

    def put(self, src: Path | bytes, dest: str, *, mode: int | None = None) -> None:
        self._record("put", dest, {"mode": mode})
        self.files[dest] = src if isinstance(src, bytes) else Path(src).read_bytes()
        if mode is not None:
            self.modes[dest] = mode

    def get(self, src: str) -> bytes:
        self._record("get", src, {})
        if src not in self.files:
            raise FileNotFoundError(f"{self.host}: no such file: {src}")
        return self.files[src]

    def close(self) -> None:
        self.calls.append(FakeCall("close", ""))
        self.closed = True

    def _record(self, kind: CallKind, target: str, options: dict[str, Any]) -> None:
        self.calls.append(FakeCall(kind, target, options))
        self.closed = False
        if self.unreachable:
            raise UnreachableError(f"{self.host} is unreachable (FakeConnection.unreachable)")

    def _match(self, command: str) -> FakeRule | None:
        for rule in self.rules:
            if rule.times is not None and rule.times <= 0:
                continue
            if rule.pattern.search(command):
                if rule.times is not None:
                    rule.times -= 1
                return rule
        return None
