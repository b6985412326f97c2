"""serial -> batches: the rule of ansible-core's `_get_serialized_batches`, as a pure function.

`serial` is an int, a percentage ("25%") or a list of them (`[1, "25%", "100%"]`:
canary, then waves); the last value repeats until every host is in a batch.
A percentage is of all the play's hosts, floored, and at least 1. A value of
0 or less (or no serial at all) puts every remaining host in one batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from deployplay.errors import PlaybookError

T = TypeVar("T")

SerialValue = int | str


def batch_size(value: SerialValue, total: int) -> int:
    """One serial value as a host count against `total` hosts (Ansible's pct_to_int)."""
    if isinstance(value, bool):
        raise PlaybookError(f"serial: {value!r} is not a number or a percentage")
    if isinstance(value, str):
        text = value.strip()
        try:
            if text.endswith("%"):
                return int(int(text[:-1]) / 100.0 * total) or 1
            return int(text)
        except ValueError:
            raise PlaybookError(
                f"serial: {value!r} is not a number or a percentage",
                hint='write e.g. 2, "25%" or [1, "25%", "100%"]',
            ) from None
    return int(value)


def serial_batches(
    hosts: Sequence[T], serial: SerialValue | Sequence[SerialValue] | None
) -> list[list[T]]:
    """Split `hosts` (in order) into the batches a play runs one after another."""
    if serial is None:
        values: list[SerialValue] = []
    elif isinstance(serial, int | str):
        values = [serial]
    else:
        values = list(serial)
    if not values:
        values = [-1]
    remaining = list(hosts)
    total = len(remaining)
    batches: list[list[T]] = []
    index = 0
    while remaining:
        size = batch_size(values[index], total)
        if size <= 0:
            batches.append(remaining)
            break
        batches.append(remaining[:size])
        remaining = remaining[size:]
        index = min(index + 1, len(values) - 1)
    return batches
