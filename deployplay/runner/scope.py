"""Scope: where a task sits (its play, its enclosing blocks, include vars) and what it inherits.

Ansible's keyword inheritance in one place: a task keyword that is not set
falls back to the innermost block that sets it, then to the play.
Conditions (`when`) of enclosing blocks apply to each task; environments
merge outer to inner; tags and failure handlers add up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from deployplay.runner.model import Block, Play, Task


@dataclass(frozen=True)
class Scope:
    """A task's surroundings. `rescuing` is True inside a block section that has a rescue."""

    play: Play
    blocks: tuple[Block, ...] = ()
    var_layers: tuple[Mapping[str, Any], ...] = ()
    rescuing: bool = False
    play_hosts: tuple[str, ...] = ()
    batch: tuple[str, ...] = ()

    def enter(self, block: Block, *, section: str = "block") -> Scope:
        """The scope of one section (block, rescue or always) of `block`."""
        return replace(
            self,
            blocks=(*self.blocks, block),
            var_layers=(*self.var_layers, block.vars) if block.vars else self.var_layers,
            rescuing=self.rescuing or (section == "block" and bool(block.rescue)),
        )

    def with_vars(self, layer: Mapping[str, Any]) -> Scope:
        return replace(self, var_layers=(*self.var_layers, layer))

    def included(self, layers: tuple[Mapping[str, Any], ...]) -> Scope:
        """The scope of the tasks an `include_tasks` task brings in.

        As in Ansible, the include's own tags and `when` select the include
        itself, not the tasks it brings in.
        """
        return replace(self, var_layers=(*self.var_layers, *layers))

    def keyword(self, task: Task | None, name: str, default: Any = None) -> Any:
        """The innermost value of `name` set on the task, its blocks or its play."""
        if task is not None:
            value = getattr(task, name, None)
            if value is not None:
                return value
        for block in reversed(self.blocks):
            value = getattr(block, name, None)
            if value is not None:
                return value
        value = getattr(self.play, name, None)
        return default if value is None else value

    def conditions(self, task: Task) -> tuple[Any, ...]:
        """Every `when` that applies: the enclosing blocks' (outer first), then the task's."""
        conditions: list[Any] = []
        for block in self.blocks:
            conditions.extend(block.when)
        conditions.extend(task.when)
        return tuple(conditions)

    def environment(self, task: Task) -> dict[str, Any]:
        merged: dict[str, Any] = dict(self.play.environment or {})
        for block in self.blocks:
            merged.update(block.environment or {})
        merged.update(task.environment or {})
        return merged

    def tags(self, task: Task) -> frozenset[str]:
        tags = set(self.play.tags) | set(task.tags)
        for block in self.blocks:
            tags |= set(block.tags)
        return frozenset(tags)

    def failure_handlers(self, task: Task | None) -> tuple[str, ...]:
        """The failure handler names in scope: the task's, its blocks' (inner first), the play's."""
        names: list[str] = list(task.on_failure) if task is not None else []
        for block in reversed(self.blocks):
            names.extend(block.on_failure)
        names.extend(self.play.on_failure)
        return tuple(dict.fromkeys(names))
