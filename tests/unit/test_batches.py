from __future__ import annotations

import pytest

from deployplay.errors import PlaybookError
from deployplay.runner.batches import batch_size, serial_batches

HOSTS = [f"h{i}" for i in range(1, 11)]


def sizes(batches: list[list[str]]) -> list[int]:
    return [len(b) for b in batches]


def test_no_serial_is_one_batch() -> None:
    assert serial_batches(HOSTS, None) == [HOSTS]
    assert serial_batches(HOSTS, []) == [HOSTS]


def test_int_serial_chunks_in_order() -> None:
    batches = serial_batches(HOSTS, 3)
    assert sizes(batches) == [3, 3, 3, 1]
    assert [h for b in batches for h in b] == HOSTS


def test_zero_or_negative_means_all() -> None:
    assert serial_batches(HOSTS, 0) == [HOSTS]
    assert serial_batches(HOSTS, -1) == [HOSTS]


def test_percentage_floors_against_all_hosts() -> None:
    assert sizes(serial_batches(HOSTS, "25%")) == [2, 2, 2, 2, 2]
    assert sizes(serial_batches(HOSTS, "30%")) == [3, 3, 3, 1]


def test_percentage_has_a_minimum_of_one() -> None:
    assert sizes(serial_batches(HOSTS[:3], "10%")) == [1, 1, 1]
    assert batch_size("0%", 10) == 1


def test_list_last_value_repeats() -> None:
    assert sizes(serial_batches(HOSTS, [1, "25%", "100%"])) == [1, 2, 7]
    assert sizes(serial_batches(HOSTS, [1, 2])) == [1, 2, 2, 2, 2, 1]


def test_numeric_strings_are_ints() -> None:
    assert sizes(serial_batches(HOSTS, "4")) == [4, 4, 2]


def test_no_hosts_no_batches() -> None:
    assert serial_batches([], 2) == []


@pytest.mark.parametrize("bad", ["lots", "x%", True])
def test_bad_serial_is_a_playbook_error(bad: object) -> None:
    with pytest.raises(PlaybookError, match="serial"):
        serial_batches(HOSTS, bad)  # type: ignore[arg-type]
