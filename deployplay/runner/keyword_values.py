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
    """Batch sizes; a templated value (or item) stays as written, for `rendered_serial`."""
    value = data.get("serial")
    if value is None:
        return None
    if templated(value):
        return (value,)
    items = value if isinstance(value, list) else [value]
    batches: list[int | str] = []
    for item in items:
        batch = item if templated(item) else serial_value(item)
        if batch is None:
            raise error(what, _serial_message(item), data, "serial", hint=_serial_hint(item))
        batches.append(batch)
    if not batches:
        raise error(what, "'serial' is an empty list", data, "serial")
    return tuple(batches)


def serial_value(item: Any) -> int | str | None:
    """One batch size: a host count, or a percentage as '25%'; None when it is neither."""
    if isinstance(item, str) and item.strip().isdigit():
        item = int(item)
    match = _PERCENT.match(item) if isinstance(item, str) else None
    if isinstance(item, int) and not isinstance(item, bool) and item >= 1:
        return item
    if match and 0 < float(match.group(1)) <= 100:
        return f"{match.group(1)}%"
    return None


def rendered_serial(value: Any) -> tuple[int | str, ...]:
    """`serial` once its templates are rendered (a template may give a whole list)."""
    items = [v for part in value for v in (part if isinstance(part, list) else [part])]
    batches = [serial_value(item) for item in items]
    for item, batch in zip(items, batches, strict=True):
        if batch is None:
            raise PlaybookError(f"play: {_serial_message(item)}", hint=_serial_hint(item))
    if not batches:
        raise PlaybookError("play: 'serial' is an empty list")
    return tuple(b for b in batches if b is not None)


def _serial_message(item: Any) -> str:
    return (
        "'serial' must be a number of hosts, a percentage like '25%', "
        f"or a list of them (e.g. [1, '25%', '100%']), got {item!r}"
    )


def _serial_hint(item: Any) -> str | None:
    return "leave serial out to run on all hosts at once" if item == 0 else None


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
    if "with_items" in data and isinstance(value, str | int | float):
        return [value]  # as Ansible's items lookup: one value is a list of one
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


def rendered_percentage(value: Any) -> int | float:
    """max_fail_percentage once rendered: 0 to 100, a number or '25%'."""
    match = _PERCENT.match(value) if isinstance(value, str) else None
    try:
        amount = float(match.group(1) if match else value)
    except (TypeError, ValueError):
        amount = -1.0
    if not 0 <= amount <= 100:
        raise PlaybookError(f"play: 'max_fail_percentage' must be 0 to 100, got {value!r}")
    return int(amount) if amount.is_integer() else amount


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


# -- Ansible's `key=value` shorthand for module arguments -------------------------------

_JINJA_OPEN = {"{{": "}}", "{%": "%}", "{#": "#}"}


def split_words(text: str) -> list[tuple[int, int]]:
    """The (start, end) of each whitespace-separated word, as Ansible's split_args sees them:
    quotes and Jinja blocks (`{{ a == b }}`) hold together. ValueError when one is unclosed."""
    words: list[tuple[int, int]] = []
    start: int | None = None
    closers: list[str] = []
    quote = ""
    i = 0
    while i < len(text):
        char, pair = text[i], text[i : i + 2]
        if start is None and not char.isspace():
            start = i
        if quote:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = ""
        elif pair in _JINJA_OPEN:
            closers.append(_JINJA_OPEN[pair])
            i += 1
        elif closers and pair == closers[-1]:
            closers.pop()
            i += 1
        elif char in "\"'" and not closers:
            quote = char
        elif char.isspace() and not closers and start is not None:
            words.append((start, i))
            start = None
        i += 1
    if quote or closers:
        raise ValueError("an unclosed quote or '{{' block")
    if start is not None:
        words.append((start, len(text)))
    return words


def key_value(word: str) -> tuple[str, str] | None:
    """`key=value` as a pair (the value unquoted), or None when the word is not one."""
    key, equals, value = word.partition("=")
    if not equals or not key.isidentifier():
        return None
    if len(value) > 1 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return key, value


def free_form_args(text: str, known: Container[str]) -> tuple[str, dict[str, str]]:
    """`command: ls chdir=/tmp` -> ('ls', {'chdir': '/tmp'}): the words that set a known
    argument are cut out, the rest of the string (spacing and newlines kept) is the command."""
    try:
        words = split_words(text)
    except ValueError:
        return text, {}  # a shell script with a lone quote: all of it is the command
    args: dict[str, str] = {}
    for start, end in reversed(words):
        pair = key_value(text[start:end])
        if pair is not None and pair[0] in known:
            args.setdefault(pair[0], pair[1])
            text = text[:start] + text[end:]
    return text.strip(), dict(reversed(args.items()))


def key_value_args(text: str) -> dict[str, str]:
    """`file: path=/x state=directory` -> {'path': '/x', 'state': 'directory'}.
    ValueError names the word that is not `key=value`."""
    args: dict[str, str] = {}
    for start, end in split_words(text):
        pair = key_value(text[start:end])
        if pair is None:
            raise ValueError(f"{text[start:end]!r} is not key=value")
        args[pair[0]] = pair[1]
    return args
