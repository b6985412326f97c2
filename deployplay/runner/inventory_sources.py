"""Reading inventory sources into InventoryData: Ansible's YAML and INI formats, vars files.

The rules are Ansible's (ansible-core's yaml and ini inventory plugins and its
host_group_vars vars plugin), so an Ansible inventory reads the same here.
Where Ansible warns and carries on (an unknown key in a YAML group) this is an
error instead: an inventory problem must stop a deploy before any host is touched.
"""

from __future__ import annotations

import ast
import difflib
import re
import shlex
import string
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployplay.errors import InventoryError, LoadError, Location
from deployplay.runner.loader import load_yaml_file, location_of

# The implicit localhost's own variables (Ansible sets the same).
IMPLICIT_LOCALHOST_VARS: Mapping[str, Any] = {"ansible_connection": "local"}

_YAML_SUFFIXES = {".yml", ".yaml", ".json"}
_VARS_SUFFIXES = ("", ".yml", ".yaml", ".json")  # Ansible's order: the first that exists wins
_GROUP_KEYS = ("hosts", "vars", "children")
_INI_SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$")
_INI_GROUP_NAME = re.compile(r"^([^:\]\s]+)\s*(?:#.*)?$")
# `name:port`, where name may hold [a:b] ranges; anything else (IPv6) is a bare name.
_HOST_PORT = re.compile(r"^((?:[^:\[\]]|\[[^\]]*\])+):([0-9]+)$")


@dataclass
class Group:
    """A group as parsed: own vars, direct hosts, child groups; reconcile() sets the depth."""

    name: str
    vars: dict[str, Any] = field(default_factory=dict)
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    priority: int = 1
    depth: int = 0


class InventoryData:
    """What the parsers fill in: groups, and hosts (in the order first defined) with their vars."""

    def __init__(self) -> None:
        self.groups: dict[str, Group] = {"all": Group("all"), "ungrouped": Group("ungrouped")}
        self.host_vars: dict[str, dict[str, Any]] = {}

    def group(self, name: str) -> Group:
        if name not in self.groups:
            self.groups[name] = Group(name)
        return self.groups[name]

    def add_host(self, name: str, group: str, variables: Mapping[str, Any]) -> None:
        # A host listed twice keeps one set of vars; the later definition wins per key.
        self.host_vars.setdefault(name, {}).update(variables)
        members = self.group(group).hosts
        if name not in members:
            members.append(name)

    def set_group_var(self, group: str, key: str, value: Any, where: Location | None) -> None:
        if key != "ansible_group_priority":
            self.group(group).vars[key] = value
            return
        # As Ansible: the priority orders groups of one depth; it is not a variable.
        try:
            self.group(group).priority = int(value)
        except (TypeError, ValueError):
            raise InventoryError(
                f"group '{group}': ansible_group_priority must be a number, got {value!r}",
                location=where,
            ) from None

    def add_child(self, parent: str, child: str, where: Location | None) -> None:
        if child == parent or child in self.ancestors(parent):
            raise InventoryError(
                f"adding group '{child}' as a child of '{parent}' makes a loop",
                location=where,
                hint="a group cannot contain itself, directly or through its children",
            )
        if child not in self.group(parent).children:
            self.groups[parent].children.append(child)
            self.group(child).parents.append(parent)

    def ancestors(self, group: str) -> set[str]:
        found: set[str] = set()
        pending = list(self.group(group).parents)
        while pending:
            name = pending.pop()
            if name not in found:
                found.add(name)
                pending += self.groups[name].parents
        return found

    def reconcile(self) -> None:
        """Ansible's rules once all is read: every group under 'all', lone hosts in 'ungrouped'."""
        for name, group in self.groups.items():
            if name != "all" and not group.parents:
                self.add_child("all", name, None)
        direct = self._direct_groups()
        ungrouped = self.groups["ungrouped"]
        for host, groups in direct.items():
            if not set(groups) - {"all", "ungrouped"}:
                if host not in ungrouped.hosts:
                    ungrouped.hosts.append(host)
            elif host in ungrouped.hosts:
                ungrouped.hosts.remove(host)
        for group in self.groups.values():
            group.depth = self._depth(group.name, {})

    def _depth(self, name: str, memo: dict[str, int]) -> int:
        if name not in memo:
            parents = self.groups[name].parents
            memo[name] = 1 + max((self._depth(p, memo) for p in parents), default=-1)
        return memo[name]

    def _direct_groups(self) -> dict[str, list[str]]:
        direct: dict[str, list[str]] = {name: [] for name in self.host_vars}
        for group in self.groups.values():
            for host in group.hosts:
                direct[host].append(group.name)
        return direct

    def host_ancestors(self) -> dict[str, set[str]]:
        """Host -> every group it is in, through children too ('all' included)."""
        result: dict[str, set[str]] = {}
        for host, groups in self._direct_groups().items():
            result[host] = {"all", *groups}
            for group in groups:
                result[host] |= self.ancestors(group)
        return result

    def members(self) -> dict[str, list[str]]:
        """Group -> its hosts and its children's hosts, in inventory order."""
        ancestors = self.host_ancestors()
        return {g: [h for h in self.host_vars if g in ancestors[h]] for g in self.groups}


# -- YAML ---------------------------------------------------------------------------------


def parse_inventory_file(path: Path, data: InventoryData) -> None:
    """Read one inventory file into `data`: YAML by its suffix (.yml .yaml .json), else INI."""
    if path.suffix in _YAML_SUFFIXES:
        parse_inventory_mapping(load_yaml_file(path), path, data)
        return
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise LoadError(f"cannot read inventory {path}: {exc}") from None
    parse_ini(text, path, data)


def parse_inventory_mapping(document: Any, path: Path, data: InventoryData) -> None:
    """A YAML inventory: top-level keys are groups ('all' among them)."""
    if not document:
        raise InventoryError(f"{path}: the inventory is empty", hint="list hosts under all: hosts:")
    if not isinstance(document, Mapping):
        raise InventoryError(
            f"a YAML inventory is a mapping of groups, not a {type(document).__name__}",
            location=location_of(document) or Location(str(path), 1),
            hint="start with all: then hosts:, vars: or children:",
        )
    if "plugin" in document:
        raise InventoryError(
            "inventory plugins are not supported",
            location=location_of(document, "plugin"),
            hint="list the hosts in a YAML or INI inventory",
        )
    for name, body in document.items():
        _yaml_group(data, name, body, location_of(document, name))


def _yaml_group(data: InventoryData, name: Any, body: Any, where: Location | None) -> None:
    if not isinstance(name, str):
        raise InventoryError(f"group name {name!r} must be a string", location=where)
    data.group(name)
    if body is None:
        return
    if not isinstance(body, Mapping):
        raise InventoryError(
            f"group '{name}' must be a mapping with hosts:, vars: or children:",
            location=location_of(body) or where,
        )
    for section, value in body.items():
        here = location_of(body, section) or where
        if section not in _GROUP_KEYS:
            hint = _did_you_mean(str(section), _GROUP_KEYS) or "a group has hosts, vars, children"
            raise InventoryError(
                f"group '{name}': unknown key '{section}'", location=here, hint=hint
            )
        if isinstance(value, str):
            value = {value: None}  # Ansible's shorthand: `hosts: web1`
        if value is None:
            continue
        if not isinstance(value, Mapping):
            raise InventoryError(
                f"group '{name}': {section} must be a mapping, not a {type(value).__name__}",
                location=here,
                hint=f"write each entry of {section}: as `name:` on its own line",
            )
        for key, item in value.items():
            _yaml_entry(data, name, section, key, item, location_of(value, key) or here)


def _yaml_entry(
    data: InventoryData, group: str, section: str, key: Any, item: Any, where: Location | None
) -> None:
    if section == "vars":
        data.set_group_var(group, str(key), item, where)
    elif section == "children":
        _yaml_group(data, key, item, where)
        data.add_child(group, key, where)
    else:
        if not isinstance(key, str):
            raise InventoryError(
                f"host {key!r} in group '{group}' must be a string", location=where, hint="quote it"
            )
        if item is not None and not isinstance(item, Mapping):
            raise InventoryError(
                f"host '{key}': its variables must be a mapping, not a {type(item).__name__}",
                location=location_of(item) or where,
            )
        add_hosts(data, group, key, dict(item or {}), where)


def add_hosts(
    data: InventoryData, group: str, pattern: str, variables: dict[str, Any], where: Location | None
) -> None:
    """Add the hosts `web[01:03]:2222` stands for; a port becomes ansible_port."""
    match = _HOST_PORT.match(pattern)
    if match:
        pattern, port = match.group(1), int(match.group(2))
        variables = {"ansible_port": port, **variables}
    if pattern.endswith(":") or pattern == "---":
        raise InventoryError(
            f"invalid host '{pattern}'",
            location=where,
            hint="this looks like YAML: give the file a .yml suffix",
        )
    for name in expand_host_range(pattern, where):
        data.add_host(name, group, variables)


def expand_host_range(pattern: str, where: Location | None = None) -> list[str]:
    """`web[01:03]` -> web01 web02 web03; also `db-[a:c]`, steps `[1:9:2]`, several ranges."""
    if "[" not in pattern:
        return [pattern]
    head, _, rest = pattern.partition("[")
    spec, closed, tail = rest.partition("]")
    bounds = spec.split(":")

    def bad(why: str) -> InventoryError:
        return InventoryError(f"host range '{pattern}': {why}", location=where)

    if not closed or len(bounds) not in (2, 3):
        raise bad("write [begin:end] or [begin:end:step]")
    begin, end = bounds[0] or "0", bounds[1]
    step = bounds[2] if len(bounds) == 3 else "1"
    if not end:
        raise bad("the end is missing")
    width = len(begin) if begin.startswith("0") and len(begin) > 1 else 0
    if width and len(end) != width:
        raise bad("begin and end must have the same number of digits")
    if not step.isdigit() or int(step) == 0:
        raise bad("the step must be a positive number")
    letters = string.ascii_letters
    if len(begin) == 1 and len(end) == 1 and begin in letters and end in letters:
        if letters.index(begin) > letters.index(end):
            raise bad("begin must not come after end")
        items = list(letters[letters.index(begin) : letters.index(end) + 1 : int(step)])
    elif begin.isdigit() and end.isdigit():
        items = [str(n).zfill(width) for n in range(int(begin), int(end) + 1, int(step))]
    else:
        raise bad("use numbers ([01:10]) or single letters ([a:f])")
    if not items:
        raise bad("the range is empty (begin is after end)")
    return [host for item in items for host in expand_host_range(head + item + tail, where)]


# -- INI ----------------------------------------------------------------------------------


def parse_ini(text: str, path: Path, data: InventoryData) -> None:
    """An Ansible INI inventory: [group], [group:vars], [group:children], host lines with vars."""
    defined = set(data.groups)
    # Groups named by [x:vars] or a :children line must be defined somewhere in the file.
    pending: dict[str, tuple[int, str]] = {}
    group, state = "ungrouped", "hosts"
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        where = Location(str(path), number)
        section = _INI_SECTION.match(line)
        if section:
            group, state = section.group(1), section.group(2) or "hosts"
            if state not in ("hosts", "vars", "children"):
                raise InventoryError(
                    f"section [{group}:{state}] has unknown type '{state}'",
                    location=where,
                    hint="use [name], [name:vars] or [name:children]",
                )
            data.group(group)
            if state != "vars":
                defined.add(group)
            else:
                message = f"section [{group}:vars] is for an undefined group"
                pending.setdefault(group, (number, message))
        elif line.startswith("["):
            raise InventoryError(
                f"invalid section '{line}'", location=where, hint="no spaces inside [name:type]"
            )
        elif state == "hosts":
            _ini_host_line(line, group, where, data)
        elif state == "vars":
            key, equals, value = line.partition("=")
            if not equals or not key.strip():
                raise InventoryError(f"expected key=value, got '{line}'", location=where)
            data.set_group_var(group, key.strip(), ini_value(value.strip()), where)
        else:
            child = _INI_GROUP_NAME.match(line)
            if child is None:
                raise InventoryError(f"expected a group name, got '{line}'", location=where)
            data.add_child(group, child.group(1), where)
            message = f"section [{group}:children] includes undefined group '{child.group(1)}'"
            pending.setdefault(child.group(1), (number, message))
    for name, (number, message) in pending.items():
        if name not in defined:
            raise InventoryError(
                message, location=Location(str(path), number), hint=f"add a [{name}] section"
            )


def _ini_host_line(line: str, group: str, where: Location, data: InventoryData) -> None:
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError as exc:
        raise InventoryError(f"cannot read host line: {exc}", location=where) from None
    if not tokens:
        return
    variables: dict[str, Any] = {}
    for token in tokens[1:]:
        key, equals, value = token.partition("=")
        if not equals or not key:
            raise InventoryError(
                f"expected key=value after the host name, got '{token}'",
                location=where,
                hint="quote a value that contains spaces",
            )
        variables[key] = ini_value(value)
    add_hosts(data, group, tokens[0], variables, where)


def ini_value(text: str) -> Any:
    """An INI value as Ansible reads it: a Python literal (42, True, [1, 2]) or else the string."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    return _plain(value)


def _plain(value: Any) -> Any:
    # literal_eval also knows tuples, sets, bytes, complex and ...: make them variable types.
    if isinstance(value, tuple | list | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if value is Ellipsis:
        return "..."
    if isinstance(value, complex):
        return str(value)
    return value


# -- group_vars/ and host_vars/ -----------------------------------------------------------


def load_vars_files(
    bases: Iterable[Path], entities: Mapping[str, Iterable[str]]
) -> dict[tuple[Path, str, str], list[Mapping[str, Any]]]:
    """(base, 'group_vars' | 'host_vars', name) -> the contents of its vars files, in order."""
    loaded: dict[tuple[Path, str, str], list[Mapping[str, Any]]] = {}
    for base in dict.fromkeys(bases):
        for kind, names in entities.items():
            if not (base / kind).is_dir():
                continue
            for name in names:
                files = _vars_files(base / kind, name)
                if files:
                    loaded[(base, kind, name)] = [_read_vars(f) for f in files]
    return loaded


def _vars_files(directory: Path, name: str) -> list[Path]:
    for suffix in _VARS_SUFFIXES:
        candidate = directory / f"{name}{suffix}"
        if candidate.is_dir():
            return _dir_vars_files(candidate)
        if candidate.is_file():
            return [candidate]
    return []


def _dir_vars_files(directory: Path) -> list[Path]:
    found: list[Path] = []
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith(".") or entry.name.endswith("~"):
            continue
        if entry.is_dir() and not entry.suffix:
            found += _dir_vars_files(entry)
        elif entry.is_file() and entry.suffix in _VARS_SUFFIXES:
            found.append(entry)
    return found


def _read_vars(path: Path) -> Mapping[str, Any]:
    content = load_yaml_file(path)
    if content is None:
        return {}
    if not isinstance(content, Mapping):
        raise InventoryError(
            f"a vars file must be a mapping of variables, not a {type(content).__name__}",
            location=location_of(content) or Location(str(path), 1),
            hint="write name: value lines",
        )
    return content


def _did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None
