"""Variables: Ansible's precedence as one ordered list of layers, and lazy per-host views.

Lowest to highest (Ansible's documented order, without roles and facts):

    inventory          the inventory's var_layers(host): group vars (all, parents before
                       children), group_vars/ files, host vars, host_vars/ files
    play vars          play.vars
    play vars_files    YAML files, relative to the playbook's directory
    block vars         outer to inner, then task vars (and include_tasks vars)
    set_fact/register  per host, kept across the plays of the run
    extra vars         -e k=v, -e '{"json": 1}', -e @file.yml: always win
    magic vars         inventory_hostname, groups, hostvars, play_hosts, ... (not overridable)

A view reads through the layers (no copies) and renders a value that holds a
template when it is read, against the same view: `url: "http://{{ host }}:{{ port }}"`
in group_vars picks up `port` from host vars. Facts and registered results
are never rendered: what a host printed is data, not a template. Dicts are
not merged across layers (Ansible's default hash_behaviour=replace).
"""

from __future__ import annotations

import json
import secrets
import shlex
import threading
from collections import ChainMap
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import yaml

from deployplay.errors import LoadError, Location, TemplateError, UserError
from deployplay.runner.loader import load_yaml_file
from deployplay.runner.templating import Templar, UndefinedVariableError, is_template

__all__ = ["OMIT", "HostVars", "VariableManager", "VariableView", "parse_extra_vars"]

# Ansible's `omit`: a task argument equal to this is dropped. Random so no real value matches.
OMIT = f"__omit_place_holder__{secrets.token_hex(12)}"

Layer = tuple[Mapping[str, Any], bool]  # (variables, lazy: render templates when read)


class InventoryLike(Protocol):
    hosts: Mapping[str, Any]

    def var_layers(self, host: str) -> list[dict[str, Any]]: ...
    def group_names(self, host: str) -> list[str]: ...
    def groups_map(self) -> dict[str, list[str]]: ...


class PlayLike(Protocol):
    vars: Mapping[str, Any]
    vars_files: Sequence[Any]
    name: str
    location: Location | None
    path: Path | None


def _has_template(value: Any) -> bool:
    if isinstance(value, str):
        return is_template(value)
    if isinstance(value, dict):
        return any(_has_template(k) or _has_template(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_template(v) for v in value)
    return False


class VariableView(Mapping[str, Any]):
    """One host's variables for one task: the layers read top down, templates rendered on read.

    A view belongs to one task on one host (one thread). It has no public
    attributes, so `hostvars.web1.host` in a template finds the variable `host`.
    """

    __slots__ = ("_cache", "_guard", "_hidden", "_layers", "_searchpath", "_templar")

    def __init__(
        self,
        layers: list[Layer],
        *,
        guard: set[tuple[int, str]],
        searchpath: list[Path],
        hidden: Mapping[str, Any] | None = None,
    ) -> None:
        self._layers = layers  # highest precedence first
        self._cache: dict[str, tuple[Any, Any]] = {}
        self._guard = guard  # shared with the hostvars views it reaches: loops across hosts too
        self._searchpath = searchpath
        self._hidden = hidden  # names its own templates may use but that it does not list
        self._templar: Templar | None = None

    def __contains__(self, key: object) -> bool:
        return any(key in layer for layer, _ in self._layers)

    def __getitem__(self, key: str) -> Any:
        value, lazy = self._find(key)
        if not lazy or (isinstance(value, str) and not is_template(value)):
            return value
        cached = self._cache.get(key)
        if cached is not None and cached[0] is value:
            return cached[1]
        rendered = self._render(key, value) if _has_template(value) else value
        self._cache[key] = (value, rendered)
        return rendered

    def _find(self, key: str) -> tuple[Any, bool]:
        for layer, lazy in self._layers:
            if key in layer:
                return layer[key], lazy
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for layer, _ in self._layers:
            for key in layer:
                if key not in seen:
                    seen.add(key)
                    yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"<variables: {len(self)} names>"

    def _render(self, key: str, value: Any) -> Any:
        marker = (id(self), key)
        if marker in self._guard:
            raise TemplateError(
                f"recursive loop detected in template for {key!r}",
                hint="a variable's template refers back to itself",
            )
        if self._templar is None:
            names = ChainMap(self, self._hidden) if self._hidden else self
            self._templar = Templar(names, searchpath=self._searchpath)
        self._guard.add(marker)
        try:
            return self._templar.template(value)
        except UndefinedVariableError as exc:
            raise UndefinedVariableError(f"{exc.message} (variable {key!r})") from None
        finally:
            self._guard.discard(marker)


class HostVars(Mapping[str, Mapping[str, Any]]):
    """`hostvars`: host name -> that host's inventory, facts, registered and extra vars, lazily."""

    __slots__ = ("_guard", "_manager", "_views")

    def __init__(self, manager: VariableManager, guard: set[tuple[int, str]]) -> None:
        self._manager = manager
        self._guard = guard
        self._views: dict[str, VariableView] = {}

    def __contains__(self, host: object) -> bool:
        # The implicit localhost is not among inventory.hosts but has variables all the same.
        return host in self._manager.inventory.hosts or host == "localhost"

    def __getitem__(self, host: str) -> VariableView:
        if host not in self:
            raise KeyError(host)
        view = self._views.get(host)
        if view is None:
            view = self._views[host] = self._manager._hostvars_view(host, self)
        return view

    def __iter__(self) -> Iterator[str]:
        return iter(self._manager.inventory.hosts)

    def __len__(self) -> int:
        return len(self._manager.inventory.hosts)

    def __repr__(self) -> str:
        return f"<hostvars: {len(self)} hosts>"


class VariableManager:
    """Holds the run's variables (extra vars, facts and registered results per host) and
    builds per-host views in Ansible's precedence."""

    def __init__(
        self,
        inventory: InventoryLike,
        extra_vars: Mapping[str, Any],
        playbook_dir: Path,
        check_mode: bool = False,
    ) -> None:
        self.inventory = inventory
        self.extra_vars = dict(extra_vars)
        self.playbook_dir = Path(playbook_dir)
        self.check_mode = check_mode
        self._facts: dict[str, dict[str, Any]] = {}
        self._inventory_vars: dict[str, dict[str, Any]] = {}
        self._group_names: dict[str, list[str]] = {}
        self._groups: dict[str, list[str]] | None = None
        self._play_files: dict[tuple[int, str | None], tuple[Any, dict[str, Any]]] = {}
        self._files: dict[Path, dict[str, Any]] = {}
        self._lock = threading.Lock()

    # -- views --

    def host_view(
        self,
        host: str,
        play: PlayLike | None = None,
        *,
        scopes: Sequence[Mapping[str, Any]] = (),
        play_hosts: Sequence[str] = (),
        play_batch: Sequence[str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> VariableView:
        """The variables of `host` for one task. `scopes`: block and task vars, outer to inner;
        `extra`: the executor's own names (item, ansible_loop...), above everything."""
        guard: set[tuple[int, str]] = set()
        magic = self._magic(host, play, HostVars(self, guard), play_hosts, play_batch)
        layers: list[Layer] = []
        if extra:
            layers.append((extra, False))
        layers += [(magic, False), (self.extra_vars, True), (self._facts_for(host), False)]
        layers += [(scope, True) for scope in reversed(scopes) if scope]
        if play is not None:
            layers.append((self.load_play_vars_files(play, host), True))
            layers.append((play.vars or {}, True))
        layers.append((self._inventory_for(host), True))
        return VariableView(layers, guard=guard, searchpath=self.searchpath(play))

    def searchpath(self, play: PlayLike | None = None) -> list[Path]:
        """Where lookups and templates look for relative files: the play's dir, the playbook dir."""
        dirs = [self._play_dir(play), self.playbook_dir]
        return list(dict.fromkeys(dirs))

    def _hostvars_view(self, host: str, hostvars: HostVars) -> VariableView:
        """Another host's variables as Ansible's hostvars has them: no play-local vars."""
        magic = self._magic(host, None, hostvars, (), None)
        del magic["hostvars"]  # as Ansible's hostvars[host]; its own templates still see it
        layers: list[Layer] = [
            (magic, False),
            (self.extra_vars, True),
            (self._facts_for(host), False),
            (self._inventory_for(host), True),
        ]
        return VariableView(
            layers,
            guard=hostvars._guard,
            searchpath=self.searchpath(),
            hidden={"hostvars": hostvars},
        )

    def _magic(
        self,
        host: str,
        play: PlayLike | None,
        hostvars: HostVars,
        play_hosts: Sequence[str],
        play_batch: Sequence[str] | None,
    ) -> dict[str, Any]:
        hosts = list(play_hosts)
        return {
            "inventory_hostname": host,
            "inventory_hostname_short": host.split(".", 1)[0],
            "group_names": self._group_names_for(host),
            "groups": self._groups_map(),
            "hostvars": hostvars,
            "play_hosts": hosts,
            "ansible_play_hosts": hosts,
            "ansible_play_batch": list(play_batch) if play_batch is not None else hosts,
            "ansible_check_mode": self.check_mode,
            "check_mode": self.check_mode,
            "playbook_dir": str(self.playbook_dir),
            "ansible_play_name": (play.name or "") if play is not None else "",
            "omit": OMIT,
        }

    # -- per-host state --

    def set_facts(self, host: str, facts: Mapping[str, Any]) -> None:
        """set_fact: values already rendered by the task; kept for the rest of the run."""
        self._facts_for(host).update(facts)

    def register(self, host: str, name: str, value: Any) -> None:
        """register: a task's result, kept for the rest of the run; never rendered again."""
        self._facts_for(host)[name] = value

    def host_facts(self, host: str) -> Mapping[str, Any]:
        """The facts and registered results of a host so far (read-only use)."""
        return self._facts_for(host)

    def _facts_for(self, host: str) -> dict[str, Any]:
        facts = self._facts.get(host)
        if facts is None:
            with self._lock:
                facts = self._facts.setdefault(host, {})
        return facts

    def _inventory_for(self, host: str) -> dict[str, Any]:
        """The inventory layers merged once per host: later (higher) layers replace keys whole."""
        merged = self._inventory_vars.get(host)
        if merged is None:
            merged = {}
            for layer in self.inventory.var_layers(host):
                merged.update(layer)
            with self._lock:
                self._inventory_vars[host] = merged
        return merged

    def _group_names_for(self, host: str) -> list[str]:
        names = self._group_names.get(host)
        if names is None:
            names = self._group_names[host] = list(self.inventory.group_names(host))
        return names

    def _groups_map(self) -> dict[str, list[str]]:
        if self._groups is None:
            groups = {name: list(members) for name, members in self.inventory.groups_map().items()}
            groups.setdefault("all", list(self.inventory.hosts))
            self._groups = groups
        return self._groups

    # -- vars_files --

    def load_play_vars_files(self, play: PlayLike, host: str | None = None) -> dict[str, Any]:
        """The play's vars_files merged (later files win), loaded once per play (per host only
        when a file name is a template). A list entry means: the first of these that exists."""
        entries = tuple(play.vars_files or ())
        if not entries:
            return {}
        templated = _has_template(list(entries))
        key = (id(play), host if templated else None)
        cached = self._play_files.get(key)
        if cached is not None and cached[0] is play:
            return cached[1]
        names = self._vars_file_names(play, host, entries) if templated else list(entries)
        merged: dict[str, Any] = {}
        for entry in names:
            merged.update(self._read_vars_file(self._find_vars_file(entry, play), play))
        with self._lock:
            self._play_files[key] = (play, merged)
        return merged

    def _vars_file_names(self, play: PlayLike, host: str | None, entries: tuple) -> list[Any]:
        if host is None:
            raise TemplateError(
                "vars_files names a template but no host was given", location=play.location
            )
        guard: set[tuple[int, str]] = set()
        layers: list[Layer] = [
            (self._magic(host, play, HostVars(self, guard), (), None), False),
            (self.extra_vars, True),
            (self._facts_for(host), False),
            (play.vars or {}, True),
            (self._inventory_for(host), True),
        ]
        view = VariableView(layers, guard=guard, searchpath=self.searchpath(play))
        try:
            return list(Templar(view, searchpath=self.searchpath(play)).template(list(entries)))
        except TemplateError as exc:
            raise exc.at(play.location) from None

    def _find_vars_file(self, entry: Any, play: PlayLike) -> Path:
        candidates = entry if isinstance(entry, list | tuple) else [entry]
        base = self._play_dir(play)
        paths = [base / Path(str(name)).expanduser() for name in candidates]
        for path in paths:
            if path.is_file():
                return path
        tried = ", ".join(str(p) for p in paths)
        raise LoadError(
            f"vars_files: cannot find {tried}",
            location=play.location,
            hint="paths are relative to the playbook's directory",
        )

    def _read_vars_file(self, path: Path, play: PlayLike) -> dict[str, Any]:
        data = self._files.get(path)
        if data is None:
            loaded = load_yaml_file(path)
            if loaded is None:
                loaded = {}
            if not isinstance(loaded, dict):
                raise LoadError(
                    f"vars_files: {path} must hold a mapping of names to values, "
                    f"not a {type(loaded).__name__}",
                    location=play.location,
                )
            data = dict(loaded)
            with self._lock:
                self._files[path] = data
        return data

    def _play_dir(self, play: PlayLike | None) -> Path:
        path = getattr(play, "path", None) if play is not None else None
        return Path(path).parent if path else self.playbook_dir


# ---- extra vars --------------------------------------------------------------------------


def parse_extra_vars(values: Sequence[str], cwd: Path) -> dict[str, Any]:
    """`-e` values in order, later ones winning: `k=v k2=v2` (strings, as Ansible),
    `{"json": 1}` (or YAML flow), `@file.yml` / `@file.json`."""
    result: dict[str, Any] = {}
    for raw in values:
        result.update(_parse_one(raw, Path(cwd)))
    return result


def _parse_one(raw: str, cwd: Path) -> dict[str, Any]:
    text = raw.strip()
    if not text:
        return {}
    if text.startswith("@"):
        return _extra_vars_file(cwd / Path(text[1:]).expanduser())
    if text[0] in "{[":
        try:
            data = yaml.safe_load(text)  # JSON is YAML flow, so both are read
        except yaml.YAMLError as exc:
            raise UserError(f"-e {raw!r}: not valid JSON/YAML: {exc}".splitlines()[0]) from None
        return _require_mapping(data, f"-e {raw!r}")
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise UserError(f"-e {raw!r}: {exc}", hint="check the quotes") from None
    pairs: dict[str, Any] = {}
    for token in tokens:
        name, sep, value = token.partition("=")
        if not sep or not name:
            raise UserError(
                f"-e {raw!r}: {token!r} is not name=value",
                hint="use -e name=value, -e '{\"name\": 1}' or -e @file.yml",
            )
        pairs[name] = value
    return pairs


def _extra_vars_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise LoadError(f"-e @{path}: no such file", hint="the path is relative to the current dir")
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise LoadError(f"{path}: not valid JSON: {exc}") from None
    else:
        data = load_yaml_file(path)
    return _require_mapping({} if data is None else data, f"-e @{path}")


def _require_mapping(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise UserError(f"{what}: extra vars must be a mapping, not a {type(data).__name__}")
    return dict(data)
