"""pytest fixtures for the SSH lab: `lab_fleet` (shared, session) and `fresh_lab` (per test).

Tests that break hosts (take them off the network, stop sshd, change host
keys) take a `fresh_lab`; everything else shares `lab_fleet`. Teardown runs
on failure, on Ctrl-C and SIGTERM (finalizers), and at interpreter exit (atexit);
a SIGKILLed run leaves no process (PDEATHSIG) and its namespaces are cleared by
the next lab that starts.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator

import pytest

from lab.lab import Lab, lab_unavailable

FLEET_SIZE = 3


def _require_lab() -> None:
    reason = lab_unavailable()
    if reason:
        pytest.skip(reason)
    _teardown_on_sigterm()


def _teardown_on_sigterm() -> None:
    """A SIGTERM (a CI timeout, `kill`) becomes KeyboardInterrupt, so finalizers still run."""
    main = threading.current_thread() is threading.main_thread()
    if main and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt("SIGTERM")


@pytest.fixture(scope="session")
def lab_fleet() -> Iterator[Lab]:
    """Three hosts (web1..web3) shared by every test that leaves them as it found them."""
    _require_lab()
    lab = Lab.of(FLEET_SIZE).start()
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture
def fresh_lab() -> Iterator[Callable[..., Lab]]:
    """A factory: `fresh_lab(2)` or `fresh_lab(names=["db1"])` builds hosts this test may break."""
    _require_lab()
    labs: list[Lab] = []

    def make(count: int = 1, *, prefix: str = "web", names: list[str] | None = None) -> Lab:
        lab = Lab(names) if names else Lab.of(count, prefix)
        labs.append(lab)
        return lab.start()

    try:
        yield make
    finally:
        for lab in labs:
            lab.stop()
