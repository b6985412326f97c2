"""Plain result values: one command, one task on one host, a host's tally, the JSON report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["ok", "changed", "failed", "skipped", "unreachable", "ignored"]

TAIL_LINES = 20


def tail(text: str, lines: int = TAIL_LINES) -> str:
    """The last `lines` lines of text: what a person needs to see of a long output."""
    parts = text.rstrip("\n").splitlines()
    if len(parts) <= lines:
        return "\n".join(parts)
    return "\n".join([f"... ({len(parts) - lines} lines before)", *parts[-lines:]])


@dataclass(frozen=True, slots=True)
class CommandResult:
    """One command run on one host."""

    command: str
    exit_code: int
    stdout: str = ""
    stderr: str = ""
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def failed(self) -> bool:
        return not self.ok

    def __str__(self) -> str:
        lines = [f"command {self.command!r} exited with {self.exit_code}"]
        if self.stdout.strip():
            lines += ["stdout:", tail(self.stdout)]
        if self.stderr.strip():
            lines += ["stderr:", tail(self.stderr)]
        return "\n".join(lines)


@dataclass(slots=True)
class TaskResult:
    """The outcome of one task (or handler) on one host.

    `data` is what `register` keeps besides changed/failed/msg/skipped; for a
    loop, `items` holds one TaskResult per item.
    """

    status: Status
    msg: str = ""
    changed: bool = False
    data: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0
    items: list[TaskResult] | None = None
    diff: list[dict[str, Any]] | None = None
    # no_log: the result is registered as usual but shown and reported censored.
    no_log: bool = False

    @property
    def failed(self) -> bool:
        return self.status in ("failed", "unreachable")

    def registered(self) -> dict[str, Any]:
        """The value `register:` stores, in Ansible's shape."""
        value: dict[str, Any] = dict(self.data)
        value.update(
            changed=self.changed,
            failed=self.status in ("failed", "unreachable", "ignored"),
            skipped=self.status == "skipped",
            msg=self.msg,
        )
        if self.status == "unreachable":
            value["unreachable"] = True
        if self.items is not None:
            value["results"] = [item.registered() for item in self.items]
        return value


@dataclass(slots=True)
class HostStats:
    """A host's counts for the PLAY RECAP, following ansible-playbook's rules."""

    ok: int = 0
    changed: int = 0
    failed: int = 0
    skipped: int = 0
    unreachable: int = 0
    rescued: int = 0
    ignored: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "ok": self.ok,
            "changed": self.changed,
            "failed": self.failed,
            "skipped": self.skipped,
            "unreachable": self.unreachable,
            "rescued": self.rescued,
            "ignored": self.ignored,
        }
