"""Which modules exist, where each came from, and whether a task's arguments fit one.

Discovery, in order: the built-ins; the entry point group
`deployplay.modules` (a team's module library, `pip install`ed); `*.py` in
`modules/` beside the playbook; `*.py` in each directory of
`DEPLOYPLAY_MODULE_PATH`. A name defined twice is an error naming both sources.

Built-ins and entry points are imported when first used, not when
discovered: `deployplay --help` and a playbook that uses three modules do not
pay for importing all of them, and a module that fails to import is an error
for the task that uses it only.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, ValidationError

from deployplay.errors import Location, ModuleError
from deployplay.modules.base import Module, ModuleArgs
from deployplay.runner.loader import location_of
from deployplay.suggest import did_you_mean

ENTRY_POINT_GROUP = "deployplay.modules"
MODULE_PATH_ENV = "DEPLOYPLAY_MODULE_PATH"

BUILTINS: dict[str, str] = {
    "command": "deployplay.modules.command:Command",
    "shell": "deployplay.modules.shell:Shell",
    "debug": "deployplay.modules.debug:Debug",
    "set_fact": "deployplay.modules.set_fact:SetFact",
    "assert": "deployplay.modules.assert_:Assert",
    "fail": "deployplay.modules.fail:Fail",
    "meta": "deployplay.modules.meta:Meta",
    "wait_for": "deployplay.modules.wait_for:WaitFor",
    "copy": "deployplay.modules.copy:Copy",
    "template": "deployplay.modules.template:Template",
    "file": "deployplay.modules.file:File",
    "http": "deployplay.modules.http:Http",
    "git_check": "deployplay.modules.git_check:GitCheck",
    "test": "deployplay.modules.test:Test",
    "tag": "deployplay.modules.tag:Tag",
    "push": "deployplay.modules.push:Push",
    "smoke": "deployplay.modules.smoke:Smoke",
    "monitor": "deployplay.modules.monitor:Monitor",
    "rollback": "deployplay.modules.rollback:Rollback",
    "promotion_check": "deployplay.modules.promotion_check:PromotionCheck",
    "lock": "deployplay.modules.lock:Lock",
}

_TEMPLATE_MARKS = ("{{", "{%")


@dataclass
class _Entry:
    """One known module: where it came from and how to get its class."""

    origin: str
    load: Callable[[], Any]
    cls: type[Module] | None = None


class ModuleRegistry:
    """The modules a run may use, by name."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    # -- building ---------------------------------------------------------------

    @classmethod
    def discover(
        cls,
        playbook_dir: Path | None = None,
        *,
        module_path: str | None = None,
        entry_points: bool = True,
    ) -> ModuleRegistry:
        """Built-ins, entry points, `<playbook_dir>/modules/`, then the module path directories.

        `module_path` defaults to $DEPLOYPLAY_MODULE_PATH (os.pathsep separated).
        """
        registry = cls()
        for name, target in BUILTINS.items():
            registry._add(name, "built-in", _import_target(target))
        if entry_points:
            registry._add_entry_points()
        for directory in _module_dirs(playbook_dir, module_path):
            registry._add_directory(directory)
        return registry

    @classmethod
    def from_classes(
        cls, modules: Iterable[type[Module]] | Mapping[str, type[Module]], *, origin: str = "test"
    ) -> ModuleRegistry:
        """A registry of exactly these classes (for tests and embedding)."""
        registry = cls()
        items = modules.items() if isinstance(modules, Mapping) else ((m.name, m) for m in modules)
        for name, module_cls in items:
            registry._add(name, origin, lambda m=module_cls: m)
        return registry

    def _add(self, name: str, origin: str, load: Callable[[], Any]) -> None:
        if name in self._entries:
            raise ModuleError(
                f"module '{name}' is defined twice: {self._entries[name].origin} and {origin}",
                hint="rename one of them",
            )
        self._entries[name] = _Entry(origin, load)

    def _add_entry_points(self) -> None:
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = entry_point.dist.name if entry_point.dist is not None else entry_point.value
            self._add(entry_point.name, f"entry point {dist}", entry_point.load)

    def _add_directory(self, directory: Path) -> None:
        for path in sorted(directory.glob("*.py")):
            if path.name.startswith("_"):
                continue
            for module_cls in _module_classes_in(path):
                self._add(module_cls.name, str(path), lambda m=module_cls: m)

    # -- looking up -------------------------------------------------------------

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        """Every module name, sorted."""
        return sorted(self._entries)

    def origin(self, name: str) -> str:
        """'built-in', 'entry point <dist>', or the file that defines the module."""
        return self._entry(name, None).origin

    def get(self, name: str, location: Location | None = None) -> type[Module]:
        """The module class; an unknown name, or one that fails to import, is a ModuleError."""
        entry = self._entry(name, location)
        if entry.cls is None:
            entry.cls = self._load(name, entry, location)
        return entry.cls

    def _entry(self, name: str, location: Location | None) -> _Entry:
        try:
            return self._entries[name]
        except KeyError:
            hint = did_you_mean(name, self._entries) or "`deployplay modules` lists them"
            raise ModuleError(f"unknown module '{name}'", location=location, hint=hint) from None

    def _load(self, name: str, entry: _Entry, location: Location | None) -> type[Module]:
        try:
            loaded = entry.load()
        except Exception as exc:  # any error in third-party or unfinished module code
            raise ModuleError(
                f"module '{name}' ({entry.origin}) cannot be loaded: "
                f"{type(exc).__name__}: {_one_line(str(exc))}",
                location=location,
            ) from exc
        if not (inspect.isclass(loaded) and issubclass(loaded, Module)):
            raise ModuleError(
                f"module '{name}' ({entry.origin}) is not a deployplay Module class",
                location=location,
            )
        return loaded

    # -- arguments --------------------------------------------------------------

    def validate_args(
        self, name: str, args: Mapping[str, Any], location: Location | None = None
    ) -> None:
        """Check a task's arguments before any host is touched.

        Argument names are checked against the Args model (fields and aliases);
        required ones must be there; values without templates are validated by
        the model. Templated values can only be checked at run time.
        """
        module_cls = self.get(name, location)
        model = module_cls.Args
        accepted = _accepted_names(model)
        if model.model_config.get("extra") != "allow":
            for key in args:
                if key not in accepted:
                    raise _unknown_argument(name, key, accepted, location_of(args, key) or location)
        for field_name, field in model.model_fields.items():
            names = {field_name} | _aliases(field)
            if field.is_required() and not names & set(args):
                raise ModuleError(
                    f"missing required argument '{field.alias or field_name}' of module '{name}'",
                    location=location,
                )
        static = {key: value for key, value in args.items() if not _is_templated(value)}
        complete = len(static) == len(args)
        try:
            model.model_validate(static)
        except ValidationError as exc:
            for error in exc.errors():
                # Fields left out because they are templated show up as "missing":
                # they are checked at run time, after templating.
                if error["type"] == "missing" or (not error["loc"] and not complete):
                    continue
                raise _argument_error(module_cls, error, args, location) from None
        except Exception:
            # A validator that reads a sibling left out for templating may trip over
            # its absence; with every argument there, that is the module's own bug.
            if complete:
                raise

    def parse_args(
        self, module_cls: type[Module], args: Mapping[str, Any], location: Location | None = None
    ) -> ModuleArgs:
        """The module's Args from templated arguments; a refusal is a one-line ModuleError."""
        try:
            return module_cls.Args.model_validate(dict(args))
        except ValidationError as exc:
            errors = exc.errors()
            error = _argument_error(module_cls, errors[0], args, location)
            if len(errors) > 1:
                error.message += f" (and {len(errors) - 1} more)"
            raise error from None


def _import_target(target: str) -> Callable[[], Any]:
    """A loader for 'package.module:Class', imported when called."""

    def load() -> Any:
        module_name, _, attr = target.partition(":")
        return getattr(importlib.import_module(module_name), attr)

    return load


def _module_dirs(playbook_dir: Path | None, module_path: str | None) -> list[Path]:
    dirs: list[Path] = []
    if playbook_dir is not None and (Path(playbook_dir) / "modules").is_dir():
        dirs.append(Path(playbook_dir) / "modules")
    path_value = os.environ.get(MODULE_PATH_ENV, "") if module_path is None else module_path
    for part in path_value.split(os.pathsep):
        if not part:
            continue
        if not Path(part).is_dir():
            raise ModuleError(f"{MODULE_PATH_ENV} names '{part}', which is not a directory")
        dirs.append(Path(part))
    # The same directory reached twice (modules/ also on the path) is read once.
    unique: dict[Path, Path] = {}
    for directory in dirs:
        unique.setdefault(directory.resolve(), directory)
    return list(unique.values())


def _module_classes_in(path: Path) -> list[type[Module]]:
    """Import a module file and return the Module subclasses it defines with a `name`."""
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    import_name = f"deployplay_local_modules.{path.stem}_{digest}"
    python_module = sys.modules.get(import_name)
    if python_module is None:
        spec = importlib.util.spec_from_file_location(import_name, path)
        if spec is None or spec.loader is None:
            raise ModuleError(f"cannot import module file {path}")
        python_module = importlib.util.module_from_spec(spec)
        # Registered before running it: pydantic resolves the Args annotations through it.
        sys.modules[import_name] = python_module
        try:
            spec.loader.exec_module(python_module)
        except Exception as exc:  # a user's module file may raise anything
            del sys.modules[import_name]
            line = getattr(exc, "lineno", None) if isinstance(exc, SyntaxError) else None
            raise ModuleError(
                f"cannot import module file: {type(exc).__name__}: {_one_line(str(exc))}",
                location=Location(str(path), line or _traceback_line(exc, path)),
            ) from exc
    return [
        value
        for value in vars(python_module).values()
        if inspect.isclass(value)
        and issubclass(value, Module)
        and value.__module__ == import_name
        and "name" in vars(value)
    ]


def _traceback_line(exc: BaseException, path: Path) -> int:
    line = 1
    traceback = exc.__traceback__
    while traceback is not None:
        if Path(traceback.tb_frame.f_code.co_filename) == path:
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line


def _aliases(field: Any) -> set[str]:
    names = {field.alias} if field.alias else set()
    validation_alias = field.validation_alias
    if isinstance(validation_alias, str):
        names.add(validation_alias)
    elif isinstance(validation_alias, AliasChoices):
        names.update(choice for choice in validation_alias.choices if isinstance(choice, str))
    return names


def _accepted_names(model: type[ModuleArgs]) -> set[str]:
    names: set[str] = set()
    for field_name, field in model.model_fields.items():
        names.add(field_name)
        names |= _aliases(field)
    return names


def _is_templated(value: Any) -> bool:
    if isinstance(value, str):
        return any(mark in value for mark in _TEMPLATE_MARKS)
    if isinstance(value, Mapping):
        return any(_is_templated(k) or _is_templated(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_is_templated(item) for item in value)
    return False


def _unknown_argument(
    module: str, key: str, accepted: set[str], location: Location | None
) -> ModuleError:
    hint = did_you_mean(key, accepted)
    if hint is None:
        hint = f"'{module}' takes: {', '.join(sorted(accepted))}" if accepted else None
    return ModuleError(f"unknown argument '{key}'", location=location, hint=hint)


def _argument_error(
    module_cls: type[Module],
    error: Mapping[str, Any],
    args: Mapping[str, Any],
    location: Location | None,
) -> ModuleError:
    """One pydantic error as the line a user reads, pointing at the argument when we know where."""
    module = module_cls.name
    loc = tuple(error.get("loc", ()))
    key = loc[0] if loc else None
    where = (location_of(args, key) if key is not None else None) or location
    dotted = ".".join(str(part) for part in loc)
    if error["type"] == "extra_forbidden" and len(loc) == 1:
        return _unknown_argument(module, str(key), _accepted_names(module_cls.Args), where)
    if error["type"] == "missing":
        return ModuleError(
            f"missing required argument '{dotted}' of module '{module}'", location=where
        )
    message = _one_line(str(error.get("msg", "invalid value")))
    if loc:
        got = _one_line(repr(error.get("input")))
        got = got if len(got) <= 60 else got[:57] + "..."
        return ModuleError(f"argument '{dotted}': {message} (got {got})", location=where)
    return ModuleError(f"module '{module}': {message}", location=where)


def _one_line(text: str) -> str:
    return " ".join(text.split())
