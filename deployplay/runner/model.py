"""The playbook model: Playbook -> Play -> Block -> Task, frozen and validated up front.

`load_playbook(path, registry)` reads a playbook (following `import_playbook`
and `import_tasks`), checks every keyword, module name and argument, and
returns frozen dataclasses. Values that may be templated (`when`, `loop`,
`retries`, ...) are kept as written; the executor templates them per host.

Keywords a task, block or play did not set are None (or empty), so the
executor can tell "not set here, inherit it" from an explicit `false`.

Tasks, blocks and plays compare by identity (eq=False): two tasks written the
same way in two places are two tasks, and a task can key a dict (handlers).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deployplay.errors import Location

if TYPE_CHECKING:
    from deployplay.modules.registry import ModuleRegistry

__all__ = [
    "BLOCK_KEYWORDS",
    "HANDLER_KEYWORDS",
    "PLAY_KEYWORDS",
    "TASK_KEYWORDS",
    "Block",
    "Handler",
    "LoopControl",
    "Play",
    "Playbook",
    "Task",
    "iter_tasks",
    "load_playbook",
    "load_task_file",
    "walk_tasks",
]

# Keyword lists as DESIGN.md gives them (plus `args` and `with_items`, from Ansible).
# fmt: off
PLAY_KEYWORDS = frozenset({
    "name", "hosts", "vars", "vars_files", "serial", "max_fail_percentage", "any_errors_fatal",
    "force_handlers", "pre_tasks", "tasks", "post_tasks", "handlers", "tags", "environment",
    "remote_user", "become", "become_user", "connection", "gather_facts", "on_failure",
    "check_mode", "no_log",
})
TASK_KEYWORDS = frozenset({
    "name", "when", "loop", "with_items", "loop_control", "register", "notify", "ignore_errors",
    "failed_when", "changed_when", "retries", "until", "delay", "delegate_to", "run_once", "tags",
    "vars", "check_mode", "no_log", "environment", "become", "become_user", "timeout",
    "on_failure", "args",
})
HANDLER_KEYWORDS = TASK_KEYWORDS | {"listen"}
BLOCK_KEYWORDS = frozenset({
    "block", "rescue", "always", "name", "when", "tags", "vars", "environment", "become",
    "become_user", "ignore_errors", "check_mode", "no_log", "delegate_to", "run_once",
    "any_errors_fatal", "on_failure",
})
# fmt: on
# `import_tasks` becomes a Block, so it takes the keywords a block does.
IMPORT_TASKS_KEYWORDS = (BLOCK_KEYWORDS - {"block", "rescue", "always"}) | {"import_tasks"}
IMPORT_PLAYBOOK_KEYWORDS = frozenset({"import_playbook", "name", "vars", "tags"})
LOOP_CONTROL_KEYWORDS = frozenset({"loop_var", "index_var", "label", "pause", "extended"})


@dataclass(frozen=True)
class LoopControl:
    """How a loop names its item and shows it (`pause` and `extended` may be templated)."""

    loop_var: str = "item"
    index_var: str | None = None
    label: Any = None
    pause: Any = 0
    extended: Any = False


@dataclass(frozen=True, eq=False)
class Task:
    """One module call, with the keywords that shape how it runs on each host.

    `name` is the name written, or the module's name when none was written.
    `args` are the module's arguments as written (untemplated); a free-form
    string is already stored under the module's `free_form` argument.
    """

    name: str
    module: str
    args: dict[str, Any] = field(default_factory=dict)
    location: Location | None = None
    when: tuple[Any, ...] = ()
    loop: Any = None
    # `with_items` flattens its list one level, as Ansible's items lookup does; `loop` does not.
    flatten_loop: bool = False
    loop_control: LoopControl = field(default_factory=LoopControl)
    register: str | None = None
    notify: tuple[str, ...] = ()
    ignore_errors: bool | str | None = None
    failed_when: tuple[Any, ...] = ()
    changed_when: tuple[Any, ...] = ()
    retries: int | str | None = None
    until: Any = None
    delay: int | float | str | None = None
    delegate_to: str | None = None
    run_once: bool | str | None = None
    tags: tuple[str, ...] = ()
    vars: dict[str, Any] = field(default_factory=dict)
    check_mode: bool | str | None = None
    no_log: bool | str | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    become: bool | str | None = None
    become_user: str | None = None
    timeout: int | float | str | None = None
    on_failure: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class Handler(Task):
    """A task that runs when notified (by its name or a `listen` topic) or on failure."""

    listen: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class Block:
    """Tasks sharing keywords, `rescue` on failure, `always` after; import_tasks makes one too."""

    block: tuple[Task | Block, ...]
    rescue: tuple[Task | Block, ...] = ()
    always: tuple[Task | Block, ...] = ()
    name: str = ""
    location: Location | None = None
    when: tuple[Any, ...] = ()
    tags: tuple[str, ...] = ()
    vars: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    become: bool | str | None = None
    become_user: str | None = None
    ignore_errors: bool | str | None = None
    check_mode: bool | str | None = None
    no_log: bool | str | None = None
    delegate_to: str | None = None
    run_once: bool | str | None = None
    any_errors_fatal: bool | str | None = None
    on_failure: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class Play:
    """Tasks to run on the hosts a pattern selects, batch by batch (`serial`).

    `hosts` is one pattern (a list in the YAML is joined with ':');
    `serial` is a tuple of host counts (int) and percentages ('25%'), or None
    for all hosts at once; `path` is the playbook file the play came from.
    """

    name: str
    hosts: str
    location: Location | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    vars_files: tuple[str, ...] = ()
    serial: tuple[int | str, ...] | None = None
    max_fail_percentage: int | float | str | None = None
    any_errors_fatal: bool | str | None = None
    force_handlers: bool | str | None = None
    pre_tasks: tuple[Task | Block, ...] = ()
    tasks: tuple[Task | Block, ...] = ()
    post_tasks: tuple[Task | Block, ...] = ()
    handlers: tuple[Handler, ...] = ()
    tags: tuple[str, ...] = ()
    environment: dict[str, Any] = field(default_factory=dict)
    remote_user: str | None = None
    become: bool | str | None = None
    become_user: str | None = None
    connection: str | None = None
    gather_facts: bool | str | None = None
    on_failure: tuple[str, ...] = ()
    check_mode: bool | str | None = None
    no_log: bool | str | None = None
    path: Path = field(default_factory=Path)


@dataclass(frozen=True, eq=False)
class Playbook:
    """The plays of a playbook file, `import_playbook` expanded in place."""

    path: Path
    plays: tuple[Play, ...]


def load_playbook(path: Path, registry: ModuleRegistry) -> Playbook:
    """Read, expand and validate a playbook; any problem is a UserError with file:line:col."""
    from deployplay.runner.model_parser import PlaybookParser

    path = Path(path)
    plays = PlaybookParser(registry, path.parent).playbook_file(path, None)
    return Playbook(path=path, plays=tuple(plays))


def load_task_file(
    path: Path,
    registry: ModuleRegistry,
    location: Location | None = None,
    *,
    playbook_dir: Path | None = None,
) -> tuple[Task | Block, ...]:
    """Read and validate a file of tasks (`include_tasks` at run time).

    `location` is where the file was named (the include), for a missing file.
    Imports inside resolve relative to the file, then to `playbook_dir`.
    """
    from deployplay.runner.model_parser import PlaybookParser

    path = Path(path)
    parser = PlaybookParser(registry, playbook_dir or path.parent)
    return parser.task_file(path, location)


def walk_tasks(
    items: Iterable[Task | Block], parents: tuple[Block, ...] = ()
) -> Iterator[tuple[Task, tuple[Block, ...]]]:
    """Every task under `items` (block, rescue and always sections), with its enclosing blocks."""
    for item in items:
        if isinstance(item, Block):
            inner = (*parents, item)
            for section in (item.block, item.rescue, item.always):
                yield from walk_tasks(section, inner)
        else:
            yield item, parents


def iter_tasks(play: Play, *, handlers: bool = True) -> Iterator[Task]:
    """Every task of a play in file order: pre_tasks, tasks, post_tasks, then the handlers."""
    for section in (play.pre_tasks, play.tasks, play.post_tasks):
        for task, _parents in walk_tasks(section):
            yield task
    if handlers:
        yield from play.handlers


def effective_tags(play: Play, parents: Iterable[Block], task: Task) -> frozenset[str]:
    """A task's tags with those it inherits from its play and blocks (as Ansible unions them)."""
    tags = set(play.tags) | set(task.tags)
    for block in parents:
        tags |= set(block.tags)
    return frozenset(tags)
