"""The PLAY RECAP's counts, following ansible-playbook's rules.

- ok / changed: a task that ran counts in `ok`, and also in `changed` if it changed;
- ignored: a failure with ignore_errors counts in `ok` and `ignored` (and `changed`
  if it changed), as ansible-core does;
- failed: a failure that no block rescues; one that a rescue section picks up
  counts in `rescued` instead;
- skipped and unreachable count once each.
"""

from __future__ import annotations

import threading

from deployplay.runner.results import HostStats, TaskResult


class RunStats:
    """Per-host counts for the whole run, safe to update from the forks pool."""

    def __init__(self) -> None:
        self._hosts: dict[str, HostStats] = {}
        self._lock = threading.Lock()

    def host(self, name: str) -> HostStats:
        with self._lock:
            return self._hosts.setdefault(name, HostStats())

    def record(self, host: str, result: TaskResult, *, rescuing: bool = False) -> None:
        counts = self.host(host)
        with self._lock:
            status = result.status
            if status == "skipped":
                counts.skipped += 1
            elif status == "unreachable":
                counts.unreachable += 1
            elif status == "failed":
                if rescuing:
                    counts.rescued += 1
                else:
                    counts.failed += 1
            else:
                counts.ok += 1
                counts.ignored += status == "ignored"
                counts.changed += bool(result.changed)

    def sorted(self) -> dict[str, HostStats]:
        """Hosts in name order, as ansible-playbook prints its recap."""
        with self._lock:
            return {name: self._hosts[name] for name in sorted(self._hosts)}
