"""Inventories: hosts, groups, host patterns, and the variables the inventory gives each host.

Ansible's YAML and INI inventory formats are read as Ansible reads them:
`all:`/top-level groups with hosts, vars and children, `web[01:03]` ranges,
`host:port`, INI values parsed as Python literals, group_vars/ and host_vars/
beside the inventory and beside the playbook. `localhost` always exists with
a local connection, but, as in Ansible, the pattern `all` does not match it
unless the inventory lists it.

    inventory = Inventory.load("prod", playbook_dir=Path("playbooks"))
    hosts = inventory.select("web:&canary", limit="web0*")
    layers = inventory.var_layers(hosts[0])      # lowest precedence first
    settings = inventory.connection_settings(hosts[0])

Parsing lives in inventory_sources.py; this module is what the rest of
deployplay uses.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deployplay.errors import InventoryError, Location
from deployplay.runner.inventory_sources import (
    IMPLICIT_LOCALHOST_VARS,
    InventoryData,
    load_vars_files,
    parse_inventory_file,
    parse_inventory_mapping,
)

__all__ = [
    "ConnectionSettings",
    "Host",
    "Inventory",
    "connection_settings_from_layers",
    "resolve_inventory",
    "split_host_pattern",
]

INVENTORY_SUFFIXES = (".yml", ".yaml", ".ini")
LOCALHOST = "localhost"
_SOURCE_SUFFIXES = {".yml", ".yaml", ".json", ".ini", ""}
_VARS_DIRS = {"group_vars", "host_vars"}
_GLOB_CHARS = set("*?[")
# Ansible's `pattern[3]`, `pattern[-1]`, `pattern[1:4]`, `pattern[2:]` (indices into the matches).
_SUBSCRIPT = re.compile(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$")
# `a:b:&c` splits on colons, but not inside [..] (ranges and subscripts).
_COLON_TERMS = re.compile(r"(?:[^\s:\[\]]|\[[^\]]*\])+")


@dataclass(frozen=True, slots=True)
class Host:
    """A host of the inventory.

    `groups` is Ansible's `group_names`: every group the host is in (parents
    included), sorted, without 'all'. `implicit` is True for the localhost
    that exists without being listed.
    """

    name: str
    groups: tuple[str, ...] = ()
    implicit: bool = False


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """How to reach a host, read from its inventory variables (either spelling of each)."""

    name: str
    address: str
    port: int = 22
    user: str | None = None
    connection: str = "ssh"
    ssh_key: str | None = None
    jump: str | None = None
    become: bool = False
    become_user: str | None = None
    known_hosts: str | None = None
    ssh_common_args: str | None = None


# Setting -> variable names, lowest priority first: within one layer deployplay's
# own spelling wins over the Ansible ones; a later layer wins over both.
CONNECTION_VARIABLES: dict[str, tuple[str, ...]] = {
    "address": ("ansible_ssh_host", "ansible_host", "host"),
    "port": ("ansible_ssh_port", "ansible_port", "port"),
    "user": ("ansible_ssh_user", "ansible_user", "user"),
    "connection": ("ansible_connection", "connection"),
    "ssh_key": ("ansible_private_key_file", "ansible_ssh_private_key_file", "ssh_key"),
    "jump": ("jump",),
    "become": ("ansible_become", "become"),
    "become_user": ("ansible_become_user", "become_user"),
    "known_hosts": ("known_hosts",),
    "ssh_common_args": ("ansible_ssh_common_args",),
}
# Ansible's other ssh-based connection names all mean ssh here.
_CONNECTIONS = {"ssh": "ssh", "smart": "ssh", "paramiko": "ssh", "paramiko_ssh": "ssh"}
_TRUE = {"true", "yes", "on", "1", "y"}
_FALSE = {"false", "no", "off", "0", "n", ""}


def connection_settings_from_layers(
    name: str, layers: Iterable[Mapping[str, Any]]
) -> ConnectionSettings:
    """Connection settings from variable layers (lowest precedence first), e.g. var_layers()."""
    raw: dict[str, Any] = {}
    for layer in layers:
        for setting, names in CONNECTION_VARIABLES.items():
            for var in names:
                if var in layer:
                    raw[setting] = (var, layer[var])
    values: dict[str, Any] = {"address": name}
    for setting, (var, value) in raw.items():
        if value is not None:
            values[setting] = _connection_value(name, setting, var, value)
    return ConnectionSettings(name=name, **values)


def _connection_value(host: str, setting: str, var: str, value: Any) -> Any:
    if setting == "port":
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536:
            return value
        if isinstance(value, str) and value.strip().isdigit() and 0 < int(value) < 65536:
            return int(value)
        raise InventoryError(
            f"host '{host}': {var} must be a port number, got {value!r}",
            hint="write a number between 1 and 65535",
        )
    if setting == "become":
        text = str(value).strip().lower()
        if isinstance(value, bool) or text in _TRUE | _FALSE:
            return value if isinstance(value, bool) else text in _TRUE
        raise InventoryError(f"host '{host}': {var} must be true or false, got {value!r}")
    if setting == "connection":
        text = str(value).strip()
        if text == "local":
            return "local"
        if text in _CONNECTIONS:
            return _CONNECTIONS[text]
        raise InventoryError(
            f"host '{host}': connection '{text}' is not supported", hint="use ssh or local"
        )
    return str(value)


class Inventory:
    """Hosts and groups from one inventory source, with their variables and pattern matching.

    `hosts` maps name -> Host for the hosts the inventory lists, in the order
    they were first defined; the implicit localhost is not among them but
    `get_host("localhost")` and `select("localhost")` return it.
    """

    def __init__(
        self,
        data: InventoryData,
        *,
        sources: Sequence[Path] = (),
        vars_dirs: Sequence[Path] = (),
        playbook_vars_dirs: Sequence[Path] = (),
    ) -> None:
        data.reconcile()
        self.sources = tuple(sources)
        self._data = data
        self._order = {name: index for index, name in enumerate(data.host_vars)}
        self._members = data.members()
        self.hosts: dict[str, Host] = {
            name: Host(name, tuple(sorted(g for g in groups if g != "all")))
            for name, groups in data.host_ancestors().items()
        }
        self._localhost = self.hosts.get(LOCALHOST) or Host(LOCALHOST, implicit=True)
        self._vars_dirs = tuple(vars_dirs)
        self._playbook_vars_dirs = tuple(playbook_vars_dirs)
        entities = {
            "group_vars": list(data.groups),
            "host_vars": [*self.hosts, *([] if LOCALHOST in self.hosts else [LOCALHOST])],
        }
        self._files = load_vars_files([*self._vars_dirs, *self._playbook_vars_dirs], entities)

    @classmethod
    def load(
        cls,
        source: str | Path | None,
        *,
        playbook_dir: Path | None = None,
        cwd: Path | None = None,
    ) -> Inventory:
        """Read `-i` SOURCE: a name under inventories/, a file, a directory, or `h1,h2,`.

        None gives an inventory with only the implicit localhost.
        """
        cwd = Path(cwd) if cwd is not None else Path.cwd()
        playbook_dir = cwd / playbook_dir if playbook_dir is not None else None
        data = InventoryData()
        sources: list[Path] = []
        vars_dirs: list[Path] = []
        text = "" if source is None else str(source)
        if text and _is_host_list(text, cwd):
            for name in (part.strip() for part in text.split(",")):
                if name:
                    data.add_host(name, "ungrouped", {})
        elif text:
            path = resolve_inventory(text, playbook_dir=playbook_dir, cwd=cwd)
            sources.append(path)
            for file in _inventory_files(path):
                parse_inventory_file(file, data)
            vars_dirs.append(path if path.is_dir() else path.parent)
        playbook_dirs = []
        if playbook_dir is not None:
            known = {d.resolve() for d in vars_dirs}
            if playbook_dir.resolve() not in known:
                playbook_dirs.append(playbook_dir)
        return cls(data, sources=sources, vars_dirs=vars_dirs, playbook_vars_dirs=playbook_dirs)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "<inventory>") -> Inventory:
        """An inventory from data shaped like a YAML inventory (for tests and generated fleets)."""
        inventory_data = InventoryData()
        if data:
            parse_inventory_mapping(data, Path(source), inventory_data)
        return cls(inventory_data)

    def __repr__(self) -> str:
        where = ", ".join(str(s) for s in self.sources) or "no source"
        return f"<Inventory {where}: {len(self.hosts)} hosts, {len(self._data.groups)} groups>"

    # -- hosts and groups -------------------------------------------------------------

    def get_host(self, host: Host | str) -> Host:
        """The Host named `host` (the implicit localhost included); InventoryError if unknown."""
        name = host.name if isinstance(host, Host) else host
        if name in self.hosts:
            return self.hosts[name]
        if name == LOCALHOST:
            return self._localhost
        raise InventoryError(f"unknown host '{name}'", hint=_suggest(name, self.hosts))

    def group_names(self, host: Host | str) -> list[str]:
        """Ansible's `group_names`: the host's groups, sorted, 'all' left out."""
        return list(self.get_host(host).groups)

    def groups_map(self) -> dict[str, list[str]]:
        """Ansible's `groups`: every group (all and ungrouped included) -> its hosts, in order."""
        return {name: list(hosts) for name, hosts in self._members.items()}

    # -- variables --------------------------------------------------------------------

    def var_layers(self, host: Host | str) -> list[dict[str, Any]]:
        """The inventory's variables for a host, lowest precedence first, as Ansible orders them.

        Inventory-file vars of 'all', then of the host's groups (by depth, then
        ansible_group_priority, then name); group_vars/all files (beside the
        inventory, then beside the playbook); the groups' group_vars files in
        the same order; the host's inventory-file vars; its host_vars files.
        """
        host = self.get_host(host)
        groups = ["all", *self._sorted_groups(host)]
        layers: list[Mapping[str, Any]] = [self._data.groups[g].vars for g in groups]
        layers += self._file_layers("group_vars", ["all"])
        layers += self._file_layers("group_vars", groups[1:])
        layers.append(IMPLICIT_LOCALHOST_VARS if host.implicit else self._data.host_vars[host.name])
        layers += self._file_layers("host_vars", [host.name])
        return [dict(layer) for layer in layers if layer]

    def host_vars(self, host: Host | str) -> dict[str, Any]:
        """All inventory variables of a host merged (a later layer replaces a key), untemplated."""
        merged: dict[str, Any] = {}
        for layer in self.var_layers(host):
            merged.update(layer)
        return merged

    def connection_settings(self, host: Host | str) -> ConnectionSettings:
        """How to reach the host, from its inventory variables (untemplated)."""
        host = self.get_host(host)
        return connection_settings_from_layers(host.name, self.var_layers(host))

    def _sorted_groups(self, host: Host) -> list[str]:
        groups = self._data.groups
        return sorted(
            (g for g in host.groups if g != "all"),
            key=lambda g: (groups[g].depth, groups[g].priority, g),
        )

    def _file_layers(self, kind: str, names: list[str]) -> list[Mapping[str, Any]]:
        # Ansible merges vars files source by source: all entities of the inventory's
        # directory, then all entities of the playbook's.
        layers: list[Mapping[str, Any]] = []
        for base in (*self._vars_dirs, *self._playbook_vars_dirs):
            for name in names:
                layers += self._files.get((base, kind, name), [])
        return layers

    # -- patterns ---------------------------------------------------------------------

    def select(self, pattern: str | Sequence[str], limit: str | None = None) -> list[Host]:
        """The hosts a play's `hosts:` pattern matches, narrowed by --limit, in inventory order."""
        names = self._evaluate(pattern)
        if limit:
            allowed = set(self._evaluate(limit))
            names = [n for n in names if n in allowed]
        return [self.get_host(n) for n in names]

    def check_pattern(self, pattern: str | Sequence[str], location: Location | None = None) -> None:
        """Raise InventoryError if the pattern names a group or host the inventory lacks.

        Globs and regexes that match nothing are not errors (Ansible skips such a play).
        """
        for term in split_host_pattern(pattern):
            name = term.lstrip("&!")
            match = _SUBSCRIPT.match(name)
            name = match.group(1) if match and not name.startswith("~") else name
            if name.startswith("~") or _GLOB_CHARS & set(name) or self._known(name):
                continue
            whole = ",".join(pattern) if not isinstance(pattern, str) else pattern
            what = f"'{name}'" if whole == name else f"'{whole}': '{name}'"
            hint = _suggest(name, [*self._data.groups, *self.hosts]) or (
                "the inventory has " + _listing("groups", self._data.groups)
            )
            raise InventoryError(f"host pattern {what} matches no host or group", hint=hint).at(
                location
            )

    def _known(self, name: str) -> bool:
        return name in self._data.groups or name in self.hosts or name == LOCALHOST

    def _evaluate(self, pattern: str | Sequence[str]) -> list[str]:
        terms = split_host_pattern(pattern)
        regular = [t for t in terms if t[0] not in "&!"] or ["all"]
        # Ansible applies unions first, then intersections, then exclusions.
        chosen: set[str] = set()
        for term in regular:
            chosen.update(self._match_term(term))
        for term in (t for t in terms if t[0] == "&"):
            chosen &= set(self._match_term(term[1:]))
        for term in (t for t in terms if t[0] == "!"):
            chosen -= set(self._match_term(term[1:]))
        return sorted(chosen, key=self._position)

    def _position(self, name: str) -> int:
        return self._order.get(name, len(self._order))

    def _match_term(self, term: str) -> list[str]:
        subscript = _SUBSCRIPT.match(term) if not term.startswith("~") else None
        expression = subscript.group(1) if subscript else term
        names = sorted(self._enumerate(expression), key=self._position)
        if subscript is None or not names:
            return names
        _, index, start, _, end = subscript.groups()
        try:
            if index is not None:
                return [names[int(index)]]
        except IndexError:
            raise InventoryError(f"host pattern '{term}': no host at index {index}") from None
        return names[int(start) : int(end) + 1 if end else None]

    def _enumerate(self, expression: str) -> set[str]:
        if expression.startswith("~"):
            try:
                regex = re.compile(expression[1:])
            except re.error as exc:
                raise InventoryError(f"invalid host pattern '{expression}': {exc}") from None
            matches = regex.match
        else:
            matches = re.compile(fnmatch.translate(expression)).match
        found: set[str] = set()
        groups = [g for g in self._data.groups if matches(g)]
        for group in groups:
            found.update(self._members[group])
        # As Ansible: a glob or regex may match hosts too; a plain word only if no group has it.
        if not groups or expression[0] == "~" or _GLOB_CHARS & set(expression) or "." in expression:
            found.update(h for h in self.hosts if matches(h))
        if not found and expression == LOCALHOST:
            found.add(LOCALHOST)
        return found


def split_host_pattern(pattern: str | Sequence[str]) -> list[str]:
    """Split `a,b` or `a:b:&c:!d` (a list of such strings too) into terms, as Ansible does."""
    if not isinstance(pattern, str):
        return [term for part in pattern for term in split_host_pattern(str(part))]
    terms = pattern.split(",") if "," in pattern else _COLON_TERMS.findall(pattern)
    return [t.strip() for t in terms if t.strip()]


def resolve_inventory(
    source: str | Path, *, playbook_dir: Path | None = None, cwd: Path | None = None
) -> Path:
    """Where `-i SOURCE` points: inventories/NAME.{yml,yaml,ini} (or NAME/) next to the playbook,
    then in the working directory, for a bare NAME; otherwise a path from the working directory.
    """
    cwd = Path(cwd) if cwd is not None else Path.cwd()
    text = str(source)
    bases = [cwd / d / "inventories" for d in (playbook_dir, cwd) if d is not None]
    bases = list(dict.fromkeys(bases))
    bare = "/" not in text and not Path(text).suffix
    if bare:
        for base in bases:
            for candidate in [base / f"{text}{suffix}" for suffix in INVENTORY_SUFFIXES]:
                if candidate.is_file():
                    return candidate
            if (base / text).is_dir():
                return base / text
    path = Path(text).expanduser()
    path = path if path.is_absolute() else cwd / path
    if path.exists():
        return path
    if not bare:
        raise InventoryError(
            f"inventory not found: {path}", hint="check the path given to -i, or pass a name"
        )
    looked = " and ".join(f"{base}/" for base in bases)
    names = sorted({p.stem for base in bases if base.is_dir() for p in base.iterdir()})
    hint = _suggest(text, names) or (
        f"create inventories/{text}.yml next to the playbook, or pass the path of an inventory file"
    )
    raise InventoryError(
        f"inventory '{text}' not found: looked for {text}.yml, {text}.yaml, {text}.ini "
        f"and {text}/ in {looked}, and for ./{text}",
        hint=hint,
    )


def _is_host_list(text: str, cwd: Path) -> bool:
    # Ansible's `-i web1,web2,`: a comma and no such file.
    return "," in text and not (cwd / Path(text).expanduser()).exists()


def _inventory_files(path: Path) -> list[Path]:
    """A source's inventory files: the file itself, or a directory's files, as Ansible reads."""
    if not path.is_dir():
        return [path]
    files: list[Path] = []
    for entry in sorted(path.iterdir()):
        if entry.name.startswith(".") or entry.name.endswith("~"):
            continue
        if entry.is_dir() and entry.name not in _VARS_DIRS:
            files += _inventory_files(entry)
        elif entry.is_file() and entry.suffix in _SOURCE_SUFFIXES:
            files.append(entry)
    if not files:
        raise InventoryError(
            f"no inventory files in {path}", hint="put a .yml, .yaml or .ini inventory file in it"
        )
    return files


def _suggest(name: str, candidates: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def _listing(what: str, names: Iterable[str]) -> str:
    shown = [n for n in names if n not in ("all", "ungrouped")]
    if not shown:
        return f"no {what} besides all and ungrouped"
    more = f" and {len(shown) - 8} more" if len(shown) > 8 else ""
    return f"{what} " + ", ".join(shown[:8]) + more
