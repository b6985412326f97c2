"""YAML data -> the playbook model (runner/model.py), checking every keyword on the way.

Each error names what it is about (`play "web"`, `task "push"`) and points at
the key in the user's file. Keyword values are checked for their shape here;
module arguments by the module registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from deployplay.errors import DeployplayError, Location, PlaybookError
from deployplay.modules.registry import ModuleRegistry
from deployplay.runner import keyword_values as kv
from deployplay.runner.loader import YamlDict, YamlList, load_yaml_file, location_of
from deployplay.runner.model import (
    BLOCK_KEYWORDS,
    HANDLER_KEYWORDS,
    IMPORT_PLAYBOOK_KEYWORDS,
    IMPORT_TASKS_KEYWORDS,
    PLAY_KEYWORDS,
    TASK_KEYWORDS,
    Block,
    Handler,
    Play,
    Task,
    iter_tasks,
    walk_tasks,
)
from deployplay.runner.templating import check_expression_syntax, check_template_syntax
from deployplay.suggest import closest, did_you_mean

INCLUDE_TASKS = "include_tasks"


def _check_templates(args: Mapping[str, Any], at: Location | None, what: str) -> None:
    """Template syntax errors in module arguments are found at load time, not on the hosts."""
    for key, value in args.items():
        where = location_of(args, key) or at
        try:
            check_template_syntax(value, where)
        except DeployplayError as exc:
            raise _prefixed(what, exc.at(where)) from None


def _check_conditions(data: Mapping[str, Any], keys: tuple[str, ...], what: str) -> None:
    """`when`, `until`, ...: bare expressions, compiled now so a typo fails before any host."""
    for key in keys:
        if data.get(key) is None:
            continue
        try:
            check_expression_syntax(data[key], location_of(data, key))
        except DeployplayError as exc:
            raise _prefixed(what, exc) from None


def _prefixed(what: str, error: DeployplayError) -> DeployplayError:
    """The same error with what it is about in front: 'task "push": unknown argument ...'."""
    return type(error)(f"{what}: {error.message}", location=error.location, hint=error.hint)


# -- the parser -----------------------------------------------------------------


@dataclass(frozen=True)
class PlaybookParser:
    """Builds the model from files; `stack` is the files being read, to catch import loops."""

    registry: ModuleRegistry
    playbook_dir: Path
    stack: tuple[Path, ...] = ()

    def _enter(self, path: Path, at: Location | None, keyword: str) -> PlaybookParser:
        resolved = path.resolve()
        if resolved in self.stack:
            chain = " -> ".join(p.name for p in (*self.stack, resolved))
            raise PlaybookError(f"{keyword} loop: {chain}", location=at)
        return PlaybookParser(self.registry, self.playbook_dir, (*self.stack, resolved))

    def _resolve(self, data: Mapping[str, Any], keyword: str, base: Path) -> Path:
        """A file named by an import: beside the including file, then in the playbook directory."""
        raw, at = data[keyword], location_of(data, keyword)
        if not isinstance(raw, str) or not raw.strip():
            raise kv.shape_error(keyword, data, keyword, "a file name")
        if kv.templated(raw):
            raise PlaybookError(
                f"{keyword}: the file name cannot be templated ({raw!r})",
                location=at,
                hint="imports are read before any variable exists; use include_tasks",
            )
        candidates = [Path(raw)] if Path(raw).is_absolute() else [base.parent / raw]
        if not Path(raw).is_absolute() and self.playbook_dir != base.parent:
            candidates.append(self.playbook_dir / raw)
        for candidate in candidates:
            if candidate.is_file():
                return candidate
        looked = " and ".join(str(c) for c in candidates)
        raise PlaybookError(
            f"{keyword}: file not found: {raw}", location=at, hint=f"looked for {looked}"
        )

    # -- playbooks and plays ------------------------------------------------------

    def playbook_file(self, path: Path, at: Location | None) -> list[Play]:
        parser = self._enter(path, at, "import_playbook")
        data = _load(path, at)
        if data is None or data == []:
            raise PlaybookError("the playbook has no plays", location=Location(str(path), 1))
        if not isinstance(data, list):
            hint = "start each play with '- '" if isinstance(data, dict) else None
            raise kv.error(
                "playbook", f"must be a list of plays, got {kv.kind(data)}", data, hint=hint
            )
        plays: list[Play] = []
        for index, item in enumerate(data):
            if isinstance(item, dict) and "import_playbook" in item:
                plays.extend(parser._import_playbook(item, path))
            elif isinstance(item, dict):
                plays.append(parser.play(item, path))
            else:
                raise PlaybookError(
                    f"playbook: a play must be a mapping, got {kv.kind(item)}",
                    location=_item_location(data, index),
                )
        return plays

    def _import_playbook(self, data: YamlDict, path: Path) -> list[Play]:
        kv.check_keywords(data, IMPORT_PLAYBOOK_KEYWORDS, "import_playbook", self.registry)
        target = self._resolve(data, "import_playbook", path)
        extra_vars = kv.mapping(data, "vars", "import_playbook")
        extra_tags = kv.names(data, "tags", "import_playbook", commas=True)
        plays = self.playbook_file(target, location_of(data, "import_playbook"))
        # As Ansible: the import's vars override the plays' own, and the tags add up.
        return [
            replace(
                play,
                vars={**play.vars, **extra_vars},
                tags=tuple(dict.fromkeys((*play.tags, *extra_tags))),
            )
            for play in plays
        ]

    def play(self, data: YamlDict, path: Path) -> Play:
        hosts = data.get("hosts")
        name = data.get("name")
        label = name if isinstance(name, str) else hosts
        what = f'play "{label}"' if isinstance(label, str) and label else "play"
        kv.check_keywords(data, PLAY_KEYWORDS, what, self.registry)
        if isinstance(hosts, list) and hosts and all(isinstance(h, str) for h in hosts):
            hosts = ":".join(hosts)
        if not isinstance(hosts, str) or not hosts.strip():
            message = "'hosts' is missing" if hosts is None else "'hosts' must be a host pattern"
            raise kv.error(
                what,
                message,
                data,
                "hosts" if "hosts" in data else None,
                hint="e.g. 'hosts: web' or 'hosts: all'",
            )
        play = Play(
            name=kv.text(data, "name", what) or hosts,
            hosts=hosts,
            location=data.location,
            vars=kv.mapping(data, "vars", what),
            vars_files=kv.names(data, "vars_files", what),
            serial=kv.serial(data, what),
            max_fail_percentage=kv.percentage(data, what),
            pre_tasks=self._tasks(data, "pre_tasks", path, what),
            tasks=self._tasks(data, "tasks", path, what),
            post_tasks=self._tasks(data, "post_tasks", path, what),
            handlers=self._handlers(data, path, what),
            tags=kv.names(data, "tags", what, commas=True),
            environment=kv.mapping(data, "environment", what),
            on_failure=kv.names(data, "on_failure", what),
            path=path,
            **{k: kv.flag(data, k, what) for k in kv.PLAY_FLAGS},
            **{k: kv.text(data, k, what) for k in ("remote_user", "become_user", "connection")},
        )
        _check_handler_names(play, what)
        return play

    # -- task lists ---------------------------------------------------------------

    def _tasks(
        self, data: Mapping[str, Any], key: str, path: Path, what: str
    ) -> tuple[Task | Block, ...]:
        items = data.get(key)
        if items is None:
            return ()
        if not isinstance(items, list):
            raise kv.shape_error(what, data, key, "a list of tasks")
        return tuple(self.task_or_block(item, path, items, i) for i, item in enumerate(items))

    def _handlers(self, data: Mapping[str, Any], path: Path, what: str) -> tuple[Handler, ...]:
        items = data.get("handlers")
        if items is None:
            return ()
        if not isinstance(items, list):
            raise kv.shape_error(what, data, "handlers", "a list of handlers")
        handlers = []
        for index, item in enumerate(items):
            _need_mapping(item, items, index, "a handler")
            for keyword in ("block", "import_tasks", INCLUDE_TASKS):
                if keyword in item:
                    raise kv.error(
                        "handler", f"'{keyword}' is not supported in handlers", item, keyword
                    )
            handlers.append(self.task(item, path, handler=True))
        return tuple(handlers)

    def task_file(self, path: Path, at: Location | None) -> tuple[Task | Block, ...]:
        """The tasks of a task file (import_tasks now, include_tasks at run time)."""
        parser = self._enter(path, at, "import_tasks")
        data = _load(path, at)
        if data is None:
            return ()
        if not isinstance(data, list):
            raise kv.error("task file", f"must be a list of tasks, got {kv.kind(data)}", data)
        return tuple(parser.task_or_block(item, path, data, i) for i, item in enumerate(data))

    def task_or_block(self, data: Any, path: Path, items: list[Any], index: int) -> Task | Block:
        _need_mapping(data, items, index, "a task")
        if "block" in data:
            return self._block(data, path)
        if "import_tasks" in data:
            return self._import_tasks(data, path)
        if "import_playbook" in data:
            raise kv.error(
                "task",
                "import_playbook belongs at the top level of a playbook, not in a task list",
                data,
                "import_playbook",
            )
        return self.task(data, path, handler=False)

    def _block(self, data: YamlDict, path: Path) -> Block:
        name = kv.text(data, "name", "block") or ""
        what = f'block "{name}"' if name else "block"
        kv.check_keywords(data, BLOCK_KEYWORDS, what, self.registry)
        sections = {
            key: self._tasks(data, key, path, what) for key in ("block", "rescue", "always")
        }
        if not sections["block"]:
            raise kv.error(what, "'block' has no tasks", data, "block")
        fields = kv.block_fields(data, what)
        _check_conditions(data, ("when",), what)
        return Block(**sections, **fields, name=name, location=data.location)

    def _import_tasks(self, data: YamlDict, path: Path) -> Block:
        what = "import_tasks"
        kv.check_keywords(data, IMPORT_TASKS_KEYWORDS, what, self.registry)
        target = self._resolve(data, "import_tasks", path)
        tasks = self.task_file(target, location_of(data, "import_tasks"))
        name = kv.text(data, "name", what) or f"import_tasks {data['import_tasks']}"
        fields = kv.block_fields(data, what)
        _check_conditions(data, ("when",), what)
        return Block(block=tasks, **fields, name=name, location=data.location)

    # -- tasks --------------------------------------------------------------------

    def task(self, data: YamlDict, path: Path, *, handler: bool) -> Task:
        keywords = HANDLER_KEYWORDS if handler else TASK_KEYWORDS
        written_name = data.get("name")
        module = self._module_of(data, keywords, written_name)
        name = kv.text(data, "name", "task") or module
        what = f'{"handler" if handler else "task"} "{name}"'
        fields: dict[str, Any] = {
            "name": name,
            "module": module,
            "args": self._module_args(module, data, what),
            "location": data.location,
            "loop": kv.loop(data, what),
            "flatten_loop": "with_items" in data,
            "loop_control": kv.loop_control(data, what),
            "register": kv.register(data, what),
            "until": data.get("until"),
            "delegate_to": kv.text(data, "delegate_to", what),
            "become_user": kv.text(data, "become_user", what),
            "vars": kv.mapping(data, "vars", what),
            "environment": kv.mapping(data, "environment", what),
            "tags": kv.names(data, "tags", what, commas=True),
            **{k: kv.conditions(data, k, what) for k in ("when", "failed_when", "changed_when")},
            **{k: kv.names(data, k, what) for k in ("notify", "on_failure")},
            **{k: kv.flag(data, k, what) for k in kv.TASK_FLAGS},
            **{k: kv.number(data, k, what) for k in ("retries", "delay", "timeout")},
        }
        _check_conditions(data, ("when", "failed_when", "changed_when", "until"), what)
        if handler:
            return Handler(**fields, listen=kv.names(data, "listen", what))
        return Task(**fields)

    def _module_of(self, data: YamlDict, keywords: frozenset[str], written_name: Any) -> str:
        what = f'task "{written_name}"' if isinstance(written_name, str) else "task"
        candidates = [key for key in data if key not in keywords]
        modules = [k for k in candidates if k == INCLUDE_TASKS or k in self.registry]
        for key in candidates:
            if key in modules:
                continue
            if not isinstance(key, str):
                raise kv.error(what, f"keys must be names, got {key!r}", data, key)
            guess = closest(key, [*keywords, *self.registry.names()])
            if modules or guess in keywords:
                hint = did_you_mean(key, [*keywords, *self.registry.names()])
                raise kv.error(what, f"unknown keyword '{key}'", data, key, hint=hint)
            try:
                self.registry.get(key, location_of(data, key))
            except DeployplayError as exc:
                raise _prefixed(what, exc) from None
        if len(modules) > 1:
            listed = " and ".join(f"'{m}'" for m in modules)
            raise kv.error(
                what,
                f"two modules in one task: {listed}",
                data,
                modules[1],
                hint="a task runs one module; split it into two tasks",
            )
        if not modules:
            raise kv.error(
                what,
                "no module to run",
                data,
                hint="add one, e.g. 'command: ...'; `deployplay modules` lists them",
            )
        return modules[0]

    def _module_args(self, module: str, data: YamlDict, what: str) -> dict[str, Any]:
        at = location_of(data, module)
        if module == INCLUDE_TASKS:
            return _include_args(data, what)
        try:
            module_cls = self.registry.get(module, at)
        except DeployplayError as exc:
            raise _prefixed(what, exc) from None
        # In `command: ls chdir=/tmp`, the words naming an argument (not the command) are args.
        known = set(module_cls.Args.model_fields) - {module_cls.free_form, "argv"}
        args = _args_mapping(data, module, module_cls.free_form, known, what)
        try:
            self.registry.validate_args(module, args, at)
        except DeployplayError as exc:
            raise _prefixed(what, exc) from None
        _check_templates(args, at, what)
        return args


def _args_mapping(
    data: YamlDict, module: str, free_form: str | None, known: set[str], what: str
) -> dict[str, Any]:
    """The module's arguments: a mapping, a free-form string, `key=value` words (Ansible's
    shorthand), or nothing; `args:` merged in."""
    raw, at = data[module], location_of(data, module)
    if isinstance(raw, str):
        raw = _shorthand_args(raw, data, module, free_form, known, what)
    args = YamlDict(location=location_of(raw) or at)
    extra = data.get("args")
    if extra is not None and not isinstance(extra, dict):
        raise kv.shape_error(what, data, "args", "a mapping")
    for source in (extra or {}, raw if isinstance(raw, dict) else {}):
        for key, value in source.items():
            args[key] = value
            args.set_key_location(key, location_of(source, key) or at)
    if raw is None or isinstance(raw, dict):
        return args
    if free_form is not None and isinstance(raw, str | int | float) and not isinstance(raw, bool):
        args[free_form] = raw if isinstance(raw, str) else str(raw)
        args.set_key_location(free_form, at)
        return args
    if free_form is not None:
        raise kv.error(
            what, f"'{module}' takes a string or a mapping, got {kv.kind(raw)}", data, module
        )
    raise kv.error(
        what,
        f"the arguments of '{module}' must be a mapping, got {kv.kind(raw)}",
        data,
        module,
        hint=f"e.g. '{module}: {{name: value}}'",
    )


def _shorthand_args(
    raw: str, data: YamlDict, module: str, free_form: str | None, known: set[str], what: str
) -> dict[str, Any]:
    """`debug: var=x`, `command: ls chdir=/tmp`: a string read as Ansible reads it."""
    at = location_of(data, module)
    if free_form is not None:
        command, args = kv.free_form_args(raw, known)
        parsed = YamlDict(({free_form: command} if command else {}) | args, location=at)
    else:
        try:
            parsed = YamlDict(kv.key_value_args(raw), location=at)
        except ValueError as exc:
            raise kv.error(
                what,
                f"the arguments of '{module}' must be a mapping or key=value words: {exc}",
                data,
                module,
                hint=f"e.g. '{module}: {{name: value}}' or '{module}: name=value'",
            ) from None
    for key in parsed:
        parsed.set_key_location(key, at)
    return parsed


def _include_args(data: YamlDict, what: str) -> dict[str, Any]:
    raw, at = data[INCLUDE_TASKS], location_of(data, INCLUDE_TASKS)
    if isinstance(raw, dict):
        kv.check_keywords(raw, {"file"}, f"{what}: include_tasks")
        raw = raw.get("file")
    if not isinstance(raw, str) or not raw.strip():
        raise kv.error(
            what,
            "include_tasks needs a file name",
            data,
            INCLUDE_TASKS,
            hint="e.g. 'include_tasks: steps.yml'",
        )
    args = YamlDict({"file": raw}, location=at)
    args.set_key_location("file", at)
    return args


def _check_handler_names(play: Play, what: str) -> None:
    """Every notify/on_failure name must match a handler's name or listen topic."""
    known = {h.name for h in play.handlers} | {t for h in play.handlers for t in h.listen}
    refs: list[tuple[str, str, tuple[str, ...], Location | None]] = [
        (what, "on_failure", play.on_failure, play.location)
    ]
    blocks = {
        id(block): block
        for section in (play.pre_tasks, play.tasks, play.post_tasks)
        for _task, parents in walk_tasks(section)
        for block in parents
    }
    refs += [(f'block "{b.name}"', "on_failure", b.on_failure, b.location) for b in blocks.values()]
    for task in iter_tasks(play):
        label = f'{"handler" if isinstance(task, Handler) else "task"} "{task.name}"'
        refs += [(label, "notify", task.notify, task.location)]
        refs += [(label, "on_failure", task.on_failure, task.location)]
    for label, keyword, names, location in refs:
        for name in names:
            if name not in known and not kv.templated(name):
                hint = did_you_mean(name, known) or "add a handler with this name or listen topic"
                raise PlaybookError(
                    f"{label}: {keyword} names no handler '{name}'", location=location, hint=hint
                )


def _load(path: Path, at: Location | None) -> Any:
    try:
        return load_yaml_file(path)
    except DeployplayError as exc:
        raise exc.at(at) from None


def _need_mapping(item: Any, items: list[Any], index: int, what: str) -> None:
    if not isinstance(item, dict):
        raise PlaybookError(
            f"{what} must be a mapping, got {kv.kind(item)}", location=_item_location(items, index)
        )


def _item_location(items: Any, index: int) -> Location | None:
    if isinstance(items, YamlList):
        return items.item_location(index) or items.location
    return None
