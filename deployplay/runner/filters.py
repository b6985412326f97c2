"""The Ansible filters, tests and lookups that playbooks use every day, for the Templar.

Jinja's built-ins (default/d, int, float, string, lower, upper, join, length,
map, select, selectattr, reject, rejectattr, unique, sort, first, last, min,
max, defined, undefined, in, ...) are kept; these add Ansible's on top, with
Ansible's documented behaviour. They run on the controller, never on a host.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os.path
import re
import shlex
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Undefined

from deployplay.errors import TemplateError

# Ansible's bool filter (convert_bool): case-insensitive, anything else is False.
BOOLEANS_TRUE = frozenset(("y", "yes", "on", "1", "true", "t"))
BOOLEANS_FALSE = frozenset(("n", "no", "off", "0", "false", "f", ""))

# A `pipe` lookup is a controller command; bounded so a hung command cannot hang the run.
PIPE_TIMEOUT_S = 300


def to_bool(value: Any) -> bool:
    """Ansible's `bool` filter: True/'yes'/'on'/'1'/'true'/1 are true, anything else false."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, str):
        return value.strip().lower() in BOOLEANS_TRUE
    if isinstance(value, int | float):
        return value == 1
    return False


def _mandatory(value: Any, msg: str | None = None) -> Any:
    if isinstance(value, Undefined):
        name = getattr(value, "_undefined_name", None)
        text = msg or f"Mandatory variable {name!r} not defined."
        raise TemplateError(text, hint="define it in vars, inventory or with -e")
    return value


def _ternary(value: Any, true_val: Any, false_val: Any, none_val: Any = None) -> Any:
    if value is None and none_val is not None:
        return none_val
    return true_val if value else false_val


def _merge(base: dict[Any, Any], extra: Mapping[Any, Any], recursive: bool, lists: str) -> None:
    for key, value in extra.items():
        old = base.get(key)
        if recursive and isinstance(old, Mapping) and isinstance(value, Mapping):
            merged = dict(old)
            _merge(merged, value, recursive, lists)
            base[key] = merged
        elif isinstance(old, list) and isinstance(value, list) and lists != "replace":
            base[key] = _merge_lists(old, value, lists)
        else:
            base[key] = value


_LIST_MERGES: dict[str, Callable[[list[Any], list[Any]], list[Any]]] = {
    "keep": lambda old, new: old,
    "append": lambda old, new: old + new,
    "prepend": lambda old, new: new + old,
    "append_rp": lambda old, new: [x for x in old if x not in new] + new,
    "prepend_rp": lambda old, new: new + [x for x in old if x not in new],
}


def _merge_lists(old: list[Any], new: list[Any], how: str) -> list[Any]:
    if how not in _LIST_MERGES:
        raise TemplateError(f"combine: unknown list_merge {how!r}")
    return _LIST_MERGES[how](old, new)


def _combine(*terms: Any, recursive: bool = False, list_merge: str = "replace") -> dict[Any, Any]:
    """Later dicts win; `recursive=True` merges nested dicts (Ansible's combine)."""
    result: dict[Any, Any] = {}
    for term in _flatten_terms(terms):
        if not isinstance(term, Mapping):
            raise TemplateError(f"combine expects dictionaries, got {type(term).__name__}")
        _merge(result, term, recursive, list_merge)
    return result


def _flatten_terms(terms: Iterable[Any]) -> Iterable[Any]:
    for term in terms:
        if isinstance(term, list | tuple):
            yield from term
        else:
            yield term


def _dict2items(value: Any, key_name: str = "key", value_name: str = "value") -> list[dict]:
    if not isinstance(value, Mapping):
        raise TemplateError(f"dict2items requires a dictionary, got {type(value).__name__}")
    return [{key_name: k, value_name: v} for k, v in value.items()]


def _items2dict(value: Any, key_name: str = "key", value_name: str = "value") -> dict:
    try:
        return {item[key_name]: item[value_name] for item in value}
    except (KeyError, TypeError) as exc:
        raise TemplateError(
            f"items2dict requires a list of dicts with {key_name!r} and {value_name!r}"
        ) from exc


class _Dumper(yaml.SafeDumper):
    """Safe YAML that also writes the loader's YamlDict/YamlList and lazy variable views."""


_Dumper.add_multi_representer(dict, yaml.SafeDumper.represent_dict)
_Dumper.add_multi_representer(Mapping, lambda d, v: d.represent_dict(dict(v.items())))
_Dumper.add_multi_representer(list, yaml.SafeDumper.represent_list)
_Dumper.add_multi_representer(tuple, yaml.SafeDumper.represent_list)


def _json_default(value: Any) -> Any:
    return dict(value.items()) if isinstance(value, Mapping) else str(value)


def _to_json(value: Any, **kwargs: Any) -> str:
    return json.dumps(value, default=_json_default, **kwargs)


def _to_nice_json(value: Any, indent: int = 4, sort_keys: bool = True, **kwargs: Any) -> str:
    separators = (",", ": ")
    return _to_json(value, indent=indent, sort_keys=sort_keys, separators=separators, **kwargs)


def _to_yaml(value: Any, **kwargs: Any) -> str:
    kwargs.setdefault("default_flow_style", None)
    return yaml.dump(value, Dumper=_Dumper, allow_unicode=True, **kwargs)


def _to_nice_yaml(value: Any, indent: int = 4, **kwargs: Any) -> str:
    kwargs.setdefault("default_flow_style", False)
    return _to_yaml(value, indent=indent, **kwargs)


def _from_json(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError as exc:
        raise TemplateError(f"from_json: not valid JSON: {exc}") from exc


def _from_yaml(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise TemplateError(f"from_yaml: not valid YAML: {exc}") from exc


def _flags(ignorecase: bool, multiline: bool) -> int:
    return (re.IGNORECASE if ignorecase else 0) | (re.MULTILINE if multiline else 0)


def _regex_search(
    value: str, regex: str, *groups: str, ignorecase: bool = False, multiline: bool = False
) -> Any:
    """The whole match, or with '\\1' / '\\g<name>' arguments the list of those groups."""
    match = re.search(regex, str(value), _flags(ignorecase, multiline))
    if match is None:
        return None
    if not groups:
        return match.group()
    picked = []
    for group in groups:
        if group.startswith("\\g<") and group.endswith(">"):
            picked.append(match.group(group[3:-1]))
        elif group.startswith("\\"):
            picked.append(match.group(int(group[1:])))
        else:
            raise TemplateError(f"regex_search: unknown group argument {group!r}")
    return picked


def _regex_replace(
    value: Any = "",
    pattern: str = "",
    replacement: str = "",
    ignorecase: bool = False,
    multiline: bool = False,
    count: int = 0,
) -> str:
    compiled = re.compile(pattern, _flags(ignorecase, multiline))
    return compiled.sub(replacement, str(value), count=count)


def _hash(value: Any, hashtype: str = "sha1") -> str:
    try:
        digest = hashlib.new(hashtype)
    except ValueError as exc:
        raise TemplateError(f"hash: unknown hash type {hashtype!r}") from exc
    digest.update(value if isinstance(value, bytes) else str(value).encode())
    return digest.hexdigest()


def _flatten(value: Any, levels: int | None = None, skip_nulls: bool = True) -> list[Any]:
    result: list[Any] = []
    for item in value:
        if skip_nulls and item in (None, "None", "null"):
            continue
        if isinstance(item, list | tuple) and (levels is None or levels > 0):
            result.extend(_flatten(item, None if levels is None else levels - 1, skip_nulls))
        else:
            result.append(item)
    return result


def _extract(item: Any, container: Any, morekeys: Any = None) -> Any:
    value = container[item]
    keys = [] if morekeys is None else morekeys
    for key in keys if isinstance(keys, list) else [keys]:
        value = value[key]
    return value


def _unique_list(values: Iterable[Any]) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if value not in out:
            out.append(value)
    return out


FILTERS: dict[str, Callable[..., Any]] = {
    "bool": to_bool,
    "mandatory": _mandatory,
    "ternary": _ternary,
    "combine": _combine,
    "dict2items": _dict2items,
    "items2dict": _items2dict,
    "to_json": _to_json,
    "to_nice_json": _to_nice_json,
    "from_json": _from_json,
    "to_yaml": _to_yaml,
    "to_nice_yaml": _to_nice_yaml,
    "from_yaml": _from_yaml,
    "regex_search": _regex_search,
    "regex_replace": _regex_replace,
    "regex_findall": lambda value, regex, multiline=False, ignorecase=False: re.findall(
        regex, str(value), _flags(ignorecase, multiline)
    ),
    "regex_escape": re.escape,
    "basename": os.path.basename,
    "dirname": os.path.dirname,
    "splitext": lambda p: list(os.path.splitext(p)),
    "expanduser": os.path.expanduser,
    "quote": lambda s: shlex.quote(str(s)),
    "b64encode": lambda s, encoding="utf-8": base64.b64encode(str(s).encode(encoding)).decode(),
    "b64decode": lambda s, encoding="utf-8": base64.b64decode(str(s)).decode(encoding),
    "hash": _hash,
    "flatten": _flatten,
    "zip": lambda *lists: [list(t) for t in zip(*lists, strict=False)],
    "extract": _extract,
    "difference": lambda a, b: [x for x in _unique_list(a) if x not in b],
    "intersect": lambda a, b: [x for x in _unique_list(a) if x in b],
    "union": lambda a, b: _unique_list([*a, *b]),
    "type_debug": lambda value: type(value).__name__,
}


# ---- tests -------------------------------------------------------------------------------


def _result(value: Any, test: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise TemplateError(
            f"the {test!r} test expects a registered result (a dict), got {type(value).__name__}"
        )
    return value


def _failed(value: Any) -> bool:
    return to_bool(_result(value, "failed").get("failed", False))


def _succeeded(value: Any) -> bool:
    return not _failed(value)


def _changed(value: Any) -> bool:
    result = _result(value, "changed")
    if "changed" in result or not isinstance(result.get("results"), list):
        return to_bool(result.get("changed", False))
    # A looped task's result: changed if any item changed, as Ansible does.
    return any(isinstance(r, Mapping) and to_bool(r.get("changed")) for r in result["results"])


def _skipped(value: Any) -> bool:
    return to_bool(_result(value, "skipped").get("skipped", False))


def _unreachable(value: Any) -> bool:
    return to_bool(_result(value, "unreachable").get("unreachable", False))


def _regex(
    value: Any,
    pattern: str = "",
    ignorecase: bool = False,
    multiline: bool = False,
    match_type: str = "search",
) -> bool:
    compiled = re.compile(pattern, _flags(ignorecase, multiline))
    method = getattr(compiled, match_type if match_type in ("match", "fullmatch") else "search")
    return method(str(value)) is not None


def _truthy(value: Any, convert_bool: bool = False) -> bool:
    if convert_bool and isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in BOOLEANS_TRUE or lowered in BOOLEANS_FALSE:
            return lowered in BOOLEANS_TRUE
    return bool(value)


# Ansible's operator spellings -> the comparison result (-1, 0, 1) they accept.
_VERSION_OPS: dict[str, tuple[int, ...]] = {
    **dict.fromkeys(("==", "=", "eq"), (0,)),
    **dict.fromkeys(("!=", "<>", "ne"), (-1, 1)),
    **dict.fromkeys(("<", "lt"), (-1,)),
    **dict.fromkeys(("<=", "le"), (-1, 0)),
    **dict.fromkeys((">", "gt"), (1,)),
    **dict.fromkeys((">=", "ge"), (0, 1)),
}

_LOOSE_PART = re.compile(r"(\d+|[a-z]+|\.)", re.IGNORECASE)
_STRICT = re.compile(r"^(\d+)\.(\d+)(\.(\d+))?([ab](\d+))?$")
_SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


def _loose_key(version: str) -> list[tuple[int, Any]]:
    """LooseVersion's components; numbers and words get a rank so they never fail to compare,
    and a tag's leading 'v' is dropped (v1.2.0 is 1.2.0) so tags compare with versions."""
    text = re.sub(r"^[vV](?=\d)", "", version.strip())
    parts = [p for p in _LOOSE_PART.split(text) if p and p != "."]
    return [(1, int(p)) if p.isdigit() else (0, p) for p in parts]


def _semver_key(version: str) -> tuple[Any, ...]:
    match = _SEMVER.match(version.strip())
    if match is None:
        raise TemplateError(f"Version comparison failed: invalid semantic version {version!r}")
    major, minor, patch, pre = match.groups()
    # A pre-release sorts before its release: 1.2.0-rc1 < 1.2.0.
    pre_key: tuple[Any, ...] = (1,)
    if pre:
        ids = [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split(".")]
        pre_key = (0, *ids)
    return (int(major), int(minor), int(patch), pre_key)


def _strict_key(version: str) -> tuple[Any, ...]:
    match = _STRICT.match(version.strip())
    if match is None:
        raise TemplateError(f"Version comparison failed: invalid version number {version!r}")
    major, minor, _, patch, pre, pre_num = match.groups()
    pre_key = (1, "", 0) if not pre else (0, pre[0], int(pre_num))
    return (int(major), int(minor), int(patch or 0), pre_key)


def version_compare(
    value: Any,
    version: Any,
    operator: str = "eq",
    strict: bool = False,
    version_type: str | None = None,
) -> bool:
    """Ansible's `version` test: loose (default), strict, semver/semantic comparison."""
    accepted = _VERSION_OPS.get(str(operator))
    if accepted is None:
        raise TemplateError(f"version: invalid operator {operator!r}")
    if strict and version_type:
        raise TemplateError("version: strict and version_type are mutually exclusive")
    kind = "strict" if strict else (version_type or "loose")
    keys: dict[str, Callable[[str], Any]] = {
        "loose": _loose_key,
        "strict": _strict_key,
        "semver": _semver_key,
        "semantic": _semver_key,
    }
    if kind not in keys:
        raise TemplateError(f"version: unknown version_type {kind!r}")
    if value in ("", None) or version in ("", None):
        raise TemplateError("Version comparison failed: version value cannot be empty")
    left, right = keys[kind](str(value)), keys[kind](str(version))
    return ((left > right) - (left < right)) in accepted


TESTS: dict[str, Callable[..., bool]] = {
    "version": version_compare,
    "version_compare": version_compare,
    "failed": _failed,
    "failure": _failed,
    "succeeded": _succeeded,
    "success": _succeeded,
    "successful": _succeeded,
    "changed": _changed,
    "change": _changed,
    "skipped": _skipped,
    "skip": _skipped,
    "unreachable": _unreachable,
    "match": functools.partial(_regex, match_type="match"),
    "search": functools.partial(_regex, match_type="search"),
    "regex": _regex,
    "truthy": _truthy,
    "falsy": lambda v, convert_bool=False: not _truthy(v, convert_bool),
    "contains": lambda seq, item: item in seq,
}

FILTERS["version_compare"] = version_compare


# ---- lookups -----------------------------------------------------------------------------


def _lookup_env(terms: Sequence[Any], searchpath: Sequence[Path], **kw: Any) -> list[Any]:
    default = kw.get("default", "")
    return [os.environ.get(str(term), default) for term in terms]


def _lookup_file(terms: Sequence[Any], searchpath: Sequence[Path], **kw: Any) -> list[str]:
    contents = []
    for term in terms:
        path = _find_file(str(term), searchpath)
        text = path.read_text(encoding="utf-8")
        contents.append(text.rstrip("\n") if kw.get("rstrip", True) else text)
    return contents


def _find_file(name: str, searchpath: Sequence[Path]) -> Path:
    """Absolute, or under each search dir (and its files/, as Ansible looks there too)."""
    candidate = Path(name).expanduser()
    if candidate.is_absolute():
        tried = [candidate]
    else:
        tried = [d / sub / candidate for d in searchpath for sub in ("files", ".")]
        tried.append(Path.cwd() / candidate)
    for path in tried:
        if path.is_file():
            return path
    where = ", ".join(str(p.parent) for p in tried) or "nowhere"
    raise TemplateError(f"lookup('file'): could not find {name!r} (looked in {where})")


def _lookup_pipe(terms: Sequence[Any], searchpath: Sequence[Path], **kw: Any) -> list[str]:
    outputs = []
    cwd = searchpath[0] if searchpath else None
    for term in terms:
        try:
            proc = subprocess.run(
                str(term),
                shell=True,
                cwd=cwd,
                capture_output=True,
                text=True,
                timeout=PIPE_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise TemplateError(f"lookup('pipe'): {term!r} ran past {PIPE_TIMEOUT_S}s") from exc
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()[-1:] or [""]
            raise TemplateError(
                f"lookup('pipe'): {term!r} exited with {proc.returncode}: {tail[0]}".rstrip(": ")
            )
        outputs.append(proc.stdout.rstrip("\n"))
    return outputs


LOOKUPS: dict[str, Callable[..., list[Any]]] = {
    "env": _lookup_env,
    "file": _lookup_file,
    "pipe": _lookup_pipe,
}
