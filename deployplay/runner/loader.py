"""YAML -> plain data that remembers where it came from.

Mappings load as `YamlDict` and sequences as `YamlList`: an ordinary dict and
list that also carry `.location` (file:line:col of the node), so that every
later error can point into the user's file. Loading is safe (no Python tags),
a repeated key is an error (YAML would silently keep the last one), and a
syntax error is one line with its position.

libyaml's parser (CSafeLoader) is used when present: it gives the same
positions as the pure-Python one and is several times faster on big files.
Its error messages are terser, so a document it rejects is parsed again by the
pure-Python parser, whose words are the ones the user sees.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from deployplay.errors import LoadError, Location

__all__ = ["YamlDict", "YamlList", "load_yaml_file", "load_yaml_text", "location_of"]


class YamlDict(dict):  # type: ignore[type-arg]
    """A mapping from a YAML file: a dict with the location of itself and of each key."""

    def __init__(self, *args: Any, location: Location | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.location = location
        self._key_locations: dict[Any, Location] = {}

    def key_location(self, key: Any) -> Location | None:
        """Where `key` is written in the file, or None for a key that was not loaded from YAML."""
        return self._key_locations.get(key)

    def set_key_location(self, key: Any, location: Location) -> None:
        self._key_locations[key] = location


class YamlList(list):  # type: ignore[type-arg]
    """A sequence from a YAML file: a list with the location of itself and of each item."""

    def __init__(self, items: Iterable[Any] = (), *, location: Location | None = None) -> None:
        super().__init__(items)
        self.location = location
        self._item_locations: list[Location] = []

    def item_location(self, index: int) -> Location | None:
        """Where item `index` is written, or None when unknown."""
        try:
            return self._item_locations[index]
        except IndexError:
            return None


def location_of(value: Any, key: Any = None) -> Location | None:
    """The location of a loaded mapping or list, or of `key` in a mapping; None when unknown."""
    if key is not None and isinstance(value, YamlDict):
        return value.key_location(key) or value.location
    if isinstance(value, YamlDict | YamlList):
        return value.location
    return None


class _PositionsMixin:
    """Constructors that build YamlDict/YamlList with locations and refuse duplicate keys."""

    filename: str = "<string>"

    def _location(self, mark: yaml.Mark) -> Location:
        return Location(self.filename, mark.line + 1, mark.column + 1)

    def construct_located_map(self, node: yaml.MappingNode) -> Any:
        data = YamlDict(location=self._location(node.start_mark))
        yield data
        # Keys merged in with `<<: *anchor` may be overridden; only keys written
        # in this mapping itself count as duplicates.
        written = {id(key_node) for key_node, _ in node.value if key_node.tag != _MERGE_TAG}
        self.flatten_mapping(node)  # type: ignore[attr-defined]
        first_seen: dict[Any, Location] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)  # type: ignore[attr-defined]
            location = self._location(key_node.start_mark)
            _check_hashable(key, node, key_node)
            if id(key_node) in written:
                if key in first_seen:
                    raise LoadError(
                        f"duplicate key '{key}': first at line {first_seen[key].line}, "
                        f"again at line {location.line}",
                        location=location,
                        hint="a key may appear once in a mapping; remove or rename one",
                    )
                first_seen[key] = location
            data[key] = self.construct_object(value_node, deep=False)  # type: ignore[attr-defined]
            data.set_key_location(key, location)

    def construct_located_seq(self, node: yaml.SequenceNode) -> Any:
        data = YamlList(location=self._location(node.start_mark))
        yield data
        data.extend(self.construct_sequence(node))  # type: ignore[attr-defined]
        data._item_locations = [self._location(item.start_mark) for item in node.value]


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _check_hashable(key: Any, node: yaml.Node, key_node: yaml.Node) -> None:
    try:
        hash(key)
    except TypeError:
        # `msg: {{ x }}` unquoted is a flow mapping whose key is a mapping: say so.
        problem = (
            "found a mapping used as a key: a value that starts with '{{' must be quoted"
            if isinstance(key, dict)
            else "found a list used as a key"
        )
        raise yaml.constructor.ConstructorError(None, None, problem, key_node.start_mark) from None


class _PythonLoader(_PositionsMixin, yaml.SafeLoader):
    pass


_FastBase = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _FastLoader(_PositionsMixin, _FastBase):  # type: ignore[misc, valid-type]
    pass


for _loader in (_PythonLoader, _FastLoader):
    _loader.add_constructor("tag:yaml.org,2002:map", _PositionsMixin.construct_located_map)
    _loader.add_constructor("tag:yaml.org,2002:seq", _PositionsMixin.construct_located_seq)


def load_yaml_text(text: str, filename: str) -> Any:
    """Parse one YAML document; `filename` is what locations and errors name."""
    if _FastLoader is not _PythonLoader:
        try:
            return _parse(_FastLoader, text, filename)
        except yaml.YAMLError:
            pass  # parsed again below, for the clearer message
    try:
        return _parse(_PythonLoader, text, filename)
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, text, filename) from None


def load_yaml_file(path: Path) -> Any:
    """Read and parse a YAML file; a missing, unreadable or non-UTF-8 file is a LoadError."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise LoadError(f"file not found: {path}") from None
    except IsADirectoryError:
        raise LoadError(f"{path} is a directory, not a YAML file") from None
    except OSError as exc:
        raise LoadError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise LoadError(
            f"not UTF-8 text (byte {exc.start})",
            location=Location(str(path), line),
            hint="save the file as UTF-8",
        ) from None
    return load_yaml_text(text, str(path))


def _parse(loader_class: type[Any], text: str, filename: str) -> Any:
    loader = loader_class(text)
    loader.filename = filename
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


# Causes of the syntax errors people make most, keyed by the parser's words.
_HINTS = {
    "mapping values are not allowed": "quote a value that contains ': '",
    "cannot start any token": "YAML indents with spaces, not tabs",
    "found undefined alias": "define the &anchor before using *it",
    "could not determine a constructor": "custom tags are not supported",
    "expected <block end>": "check the indentation of this line and the one above",
}


def _syntax_error(exc: yaml.YAMLError, text: str, filename: str) -> LoadError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        message = f"invalid YAML: {problem}"
        if exc.problem and exc.problem.startswith("but ") and exc.context:
            # PyYAML splits one sentence in two: "expected X" ... "but found Y".
            message = f"invalid YAML: {exc.context}, {exc.problem}"
        elif (
            exc.problem
            and exc.context
            and exc.context_mark is not None
            and (mark is None or exc.context_mark.line != mark.line)
        ):
            message += f" ({exc.context} at line {exc.context_mark.line + 1})"
        location = Location(filename, mark.line + 1, mark.column + 1) if mark else None
    elif isinstance(exc, yaml.reader.ReaderError):
        line = text[: exc.position].count("\n") + 1
        char = exc.character
        code = char if isinstance(char, int) else ord(char)
        message = f"invalid YAML: unacceptable character #x{code:04x}"
        location = Location(filename, line)
    else:
        message = "invalid YAML: " + " ".join(str(exc).split())
        location = Location(filename, 1)
    hint = next((h for words, h in _HINTS.items() if words in message), None)
    return LoadError(" ".join(message.split()), location=location, hint=hint)
