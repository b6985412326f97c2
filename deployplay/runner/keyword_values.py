"""The shapes a playbook keyword's value may take, checked with the user's file:line:col.

Each checker takes the loaded mapping, the keyword and `what` the mapping is
(`task "push"`, `play "web"`) for the message, and returns the normalised
value: conditions, names and tags as tuples, serial as a tuple of batch sizes.
Templated values (`{{ ... }}`) are kept as written for the executor.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable, Mapping
from typing import Any

from deployplay.errors import PlaybookError
from deployplay.runner.loader import YamlDict, location_of
from deployplay.runner.model import LOOP_CONTROL_KEYWORDS, LoopControl
from deployplay.suggest import did_you_mean

_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
_TRUE_WORDS = {"true", "yes", "on", "y"}
_FALSE_WORDS = {"false", "no", "off", "n"}


def templated(value: Any) -> bool:
    """A string with Jinja in it: its value is known only at run time."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def kind(value: Any) -> str:
    """What a value is, in the user's words, for 'got a list'."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "a mapping" if isinstance(value, dict) else type(value).__name__


def error(
    what: str, message: str, data: Any, key: Any = None, hint: str | None = None
) -> PlaybookError:
    """`what: message` at the key's place in the file (or the mapping's)."""
    return PlaybookError(f"{what}: {message}", location=location_of(data, key), hint=hint)


def shape_error(what: str, data: Mapping[str, Any], key: str, expected: str) -> PlaybookError:
    return error(what, f"'{key}' must be {expected}, got {kind(data[key])}", data, key)


def text(data: Mapping[str, Any], key: str, what: str) -> str | None:
    """A string; a number is taken as its text (`name: 2024`)."""
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise shape_error(what, data, key, "a string")


def flag(data: Mapping[str, Any], key: str, what: str) -> bool | str | None:
    """true/false, Ansible's yes/no words, or a template decided at run time."""
    value = data.get(key)
    if value is None or isinstance(value, bool) or templated(value):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE_WORDS | _FALSE_WORDS:
        return value.strip().lower() in _TRUE_WORDS
    raise shape_error(what, data, key, "true or false (or a '{{ template }}')")


def number(data: Mapping[str, Any], key: str, what: str) -> int | float | str | None:
    value = data.get(key)
    if value is None or templated(value):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            pass
        else:
            if number >= 0:
                return int(number) if number.is_integer() else number
    raise shape_error(what, data, key, "a number of 0 or more (or a '{{ template }}')")


def conditions(data: Mapping[str, Any], key: str, what: str) -> tuple[Any, ...]:
    value = data.get(key)
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    if all(isinstance(item, str | bool) for item in items):
        return tuple(items)
    raise shape_error(what, data, key, "a condition (a string or true/false) or a list of them")


def names(data: Mapping[str, Any], key: str, what: str, *, commas: bool = False) -> tuple[str, ...]:
    """A name or a list of names; `commas` splits 'a,b' as Ansible does for tags."""
    value = data.get(key)
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(item, str | int) and not isinstance(item, bool) for item in items):
        raise shape_error(what, data, key, "a name or a list of names")
    names = [str(item) for item in items]
    if commas:
        names = [part.strip() for name in names for part in name.split(",") if part.strip()]
    return tuple(names)


def mapping(data: Mapping[str, Any], key: str, what: str) -> dict[str, Any]:
    value = data.get(key)
    if value is None:
        return YamlDict(location=location_of(data, key))
    if isinstance(value, dict):
        return value
    raise shape_error(what, data, key, "a mapping")


def serial(data: Mapping[str, Any], what: str) -> tuple[int | str, ...] | None:
    value = data.get("serial")
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    batches: list[int | str] = []
    for item in items:
        if isinstance(item, str) and item.strip().isdigit():
            item = int(item)
        match = _PERCENT.match(item) if isinstance(item, str) else None
        if isinstance(item, int) and not isinstance(item, bool) and item >= 1:
            batches.append(item)
        elif match and 0 < float(match.group(1)) <= 100:
            batches.append(f"{match.group(1)}%")
        else:
            raise error(
                what,
                f"'serial' must be a number of hosts, a percentage like '25%', "
                f"or a list of them (e.g. [1, '25%', '100%']), got {item!r}",
                data,
                "serial",
                hint=None if item != 0 else "leave serial out to run on all hosts at once",
            )
    if not batches:
        raise error(what, "'serial' is an empty list", data, "serial")
    return tuple(batches)


def check_keywords(
    data: Mapping[Any, Any], allowed: Iterable[str], what: str, modules: Container[str] = ()
) -> None:
    """Every key must be one of `allowed`; a misspelt one gets a suggestion."""
    allowed = set(allowed)
    for key in data:
        if key in allowed:
            continue
        if not isinstance(key, str):
            raise error(what, f"keys must be names, got {key!r}", data, key)
        hint = did_you_mean(key, allowed)
        if hint is None and key in modules:
            hint = f"'{key}' is a module: it belongs in a task"
        raise error(what, f"unknown keyword '{key}'", data, key, hint=hint)


PLAY_FLAGS = (
    "any_errors_fatal",
    "force_handlers",
    "become",
    "gather_facts",
    "check_mode",
    "no_log",
)
TASK_FLAGS = ("ignore_errors", "run_once", "check_mode", "no_log", "become")
_BLOCK_FLAGS = (*TASK_FLAGS, "any_errors_fatal")


def block_fields(data: Mapping[str, Any], what: str) -> dict[str, Any]:
    """The keywords a block (or an import_tasks) passes down to its tasks."""
    return {
        "when": conditions(data, "when", what),
        "tags": names(data, "tags", what, commas=True),
        "vars": mapping(data, "vars", what),
        "environment": mapping(data, "environment", what),
        "become_user": text(data, "become_user", what),
        "delegate_to": text(data, "delegate_to", what),
        "on_failure": names(data, "on_failure", what),
        **{k: flag(data, k, what) for k in _BLOCK_FLAGS},
    }


def loop(data: Mapping[str, Any], what: str) -> Any:
    """`loop`, or Ansible's `with_items` under its modern name."""
    if "loop" in data and "with_items" in data:
        raise error(what, "'loop' and 'with_items' both given; keep one", data, "with_items")
    value = data.get("loop", data.get("with_items"))
    if value is None or isinstance(value, list) or templated(value):
        return value
    key = "loop" if "loop" in data else "with_items"
    raise shape_error(what, data, key, "a list or a '{{ template }}' that gives one")


def loop_control(data: Mapping[str, Any], what: str) -> LoopControl:
    value = data.get("loop_control")
    if value is None:
        return LoopControl()
    if not isinstance(value, dict):
        raise shape_error(what, data, "loop_control", "a mapping")
    check_keywords(value, LOOP_CONTROL_KEYWORDS, f"{what}: loop_control")
    for key in ("loop_var", "index_var"):
        if key in value and not (isinstance(value[key], str) and value[key].isidentifier()):
            raise error(what, f"loop_control '{key}' must be a variable name", value, key)
    return LoopControl(
        loop_var=value.get("loop_var", "item"),
        index_var=value.get("index_var"),
        label=value.get("label"),
        pause=value.get("pause", 0),
        extended=value.get("extended", False),
    )


def register(data: Mapping[str, Any], what: str) -> str | None:
    value = data.get("register")
    if value is None or (isinstance(value, str) and value.isidentifier()):
        return value
    raise shape_error(what, data, "register", "a variable name (letters, digits, '_')")


def percentage(data: Mapping[str, Any], what: str) -> int | float | str | None:
    """max_fail_percentage: 0 to 100, written as a number or as '25%'."""
    value = data.get("max_fail_percentage")
    match = _PERCENT.match(value) if isinstance(value, str) else None
    amount = float(match.group(1)) if match else number(data, "max_fail_percentage", what)
    if isinstance(amount, float) and amount.is_integer():
        amount = int(amount)
    if isinstance(amount, int | float) and amount > 100:
        raise error(
            what,
            f"'max_fail_percentage' must be 0 to 100, got {value}",
            data,
            "max_fail_percentage",
        )
    return amount
