"""--tags / --skip-tags: ansible-core's `evaluate_tags`, as a pure function.

A task's tags are its own plus those of its blocks, imports and play.
`always` runs unless skipped by name; `never` runs only when asked for by
one of the task's other tags; `all` (the default) and `tagged`/`untagged`
mean what they mean in Ansible.
"""

from __future__ import annotations

from collections.abc import Collection

UNTAGGED = frozenset({"untagged"})


def should_run(
    task_tags: Collection[str], only_tags: Collection[str] = (), skip_tags: Collection[str] = ()
) -> bool:
    tags = frozenset(task_tags) or UNTAGGED
    only = frozenset(only_tags) or frozenset({"all"})
    return _selected(tags, only) and not _skipped(tags, frozenset(skip_tags))


def _selected(tags: frozenset[str], only: frozenset[str]) -> bool:
    if "always" in tags or not tags.isdisjoint(only):
        return True
    if "never" in tags:
        return False
    return "all" in only or ("tagged" in only and tags != UNTAGGED)


def _skipped(tags: frozenset[str], skip: frozenset[str]) -> bool:
    if "all" in skip:
        return "always" not in tags or "always" in skip
    return not tags.isdisjoint(skip) or ("tagged" in skip and tags != UNTAGGED)
