"""'Did you mean ...?' for misspelt names: keywords, modules, arguments, handlers, hosts."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: str, candidates: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """The candidate most like `word` (case-insensitive), or None when nothing is close."""
    by_lower: dict[str, str] = {}
    for candidate in candidates:
        by_lower.setdefault(str(candidate).lower(), str(candidate))
    matches = difflib.get_close_matches(str(word).lower(), list(by_lower), n=1, cutoff=cutoff)
    return by_lower[matches[0]] if matches else None


def did_you_mean(word: str, candidates: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """`"did you mean 'notify'?"` for the closest candidate, or None when nothing is close."""
    match = closest(word, candidates, cutoff=cutoff)
    return f"did you mean '{match}'?" if match is not None else None
