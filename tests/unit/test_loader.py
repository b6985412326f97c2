"""The YAML loader: positions on every mapping and list, duplicate keys, one-line syntax errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deployplay.errors import LoadError, Location
from deployplay.runner import loader
from deployplay.runner.loader import (
    YamlDict,
    YamlList,
    load_yaml_file,
    load_yaml_text,
    location_of,
)

PLAYBOOK = """\
- name: web
  hosts: web
  tasks:
    - name: list
      command: ls /srv
    - debug:
        msg: hi
      tags: [a, b]
"""


def test_mappings_and_lists_know_where_they_are() -> None:
    data = load_yaml_text(PLAYBOOK, "release.yml")
    assert isinstance(data, YamlList)
    assert data.location == Location("release.yml", 1, 1)
    play = data[0]
    assert isinstance(play, YamlDict)
    assert play.location == Location("release.yml", 1, 3)
    assert play.key_location("hosts") == Location("release.yml", 2, 3)
    tasks = play["tasks"]
    assert tasks.location == Location("release.yml", 4, 5)
    assert tasks[1].location == Location("release.yml", 6, 7)
    assert tasks[1]["debug"].location == Location("release.yml", 7, 9)
    assert tasks[1]["tags"].location == Location("release.yml", 8, 13)
    assert tasks.item_location(1) == Location("release.yml", 6, 7)
    assert tasks.item_location(9) is None


def test_loaded_values_are_plain_python() -> None:
    data = load_yaml_text(PLAYBOOK, "release.yml")
    assert data == [
        {
            "name": "web",
            "hosts": "web",
            "tasks": [
                {"name": "list", "command": "ls /srv"},
                {"debug": {"msg": "hi"}, "tags": ["a", "b"]},
            ],
        }
    ]
    assert isinstance(data[0], dict)
    assert isinstance(data[0]["tasks"], list)


def test_scalars_are_plain_types() -> None:
    data = load_yaml_text("a: 1\nb: 1.5\nc: true\nd: ~\ne: text\n", "x.yml")
    assert data == {"a": 1, "b": 1.5, "c": True, "d": None, "e": "text"}
    assert [type(v) for v in data.values()] == [int, float, bool, type(None), str]


def test_location_of() -> None:
    data = load_yaml_text("a:\n  b: [1, 2]\n", "x.yml")
    assert location_of(data) == Location("x.yml", 1, 1)
    assert location_of(data, "a") == Location("x.yml", 1, 1)
    assert location_of(data["a"], "b") == Location("x.yml", 2, 3)
    assert location_of(data["a"]["b"]) == Location("x.yml", 2, 6)
    # A key that is not there falls back to the mapping; plain values have no location.
    assert location_of(data["a"], "nope") == Location("x.yml", 2, 3)
    assert location_of("text") is None
    assert location_of({"a": 1}, "a") is None


def test_columns_count_characters_not_bytes() -> None:
    data = load_yaml_text("é: ñ\n日本語: {a: 1}\n", "u.yml")
    assert data.key_location("日本語") == Location("u.yml", 2, 1)
    assert data["日本語"].location == Location("u.yml", 2, 6)


def test_duplicate_key_names_the_key_and_both_lines() -> None:
    with pytest.raises(LoadError) as caught:
        load_yaml_text("hosts: a\nname: x\nhosts: b\n", "dup.yml")
    message = str(caught.value)
    assert message.startswith("dup.yml:3:1: duplicate key 'hosts'")
    assert "line 1" in message and "line 3" in message
    assert "\n" not in message


def test_duplicate_key_in_a_nested_mapping() -> None:
    with pytest.raises(LoadError, match=r"n.yml:4:5: duplicate key 'msg'"):
        load_yaml_text("- debug:\n    msg: a\n    x: 1\n    msg: b\n", "n.yml")


def test_merge_keys_may_be_overridden_without_a_duplicate_error() -> None:
    text = "base: &b {a: 1, b: 2}\nthing:\n  <<: *b\n  a: 3\n"
    assert load_yaml_text(text, "m.yml")["thing"] == {"a": 3, "b": 2}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: b: c\n", "s.yml:1:5: invalid YAML: mapping values are not allowed here"),
        ("a: [1,\n", "s.yml:2:1: invalid YAML: expected the node content"),
        ("a:\n\t- b\n", "s.yml:2:1: invalid YAML: found character '\\t'"),
        ("a: *nope\n", "s.yml:1:4: invalid YAML: found undefined alias 'nope'"),
        ("a: !!python/object:os.system x\n", "s.yml:1:4: invalid YAML: could not determine"),
        ("msg: {{ x }}\n", "s.yml:1:7: invalid YAML: found a mapping used as a key"),
        ("[1]: 2\n", "s.yml:1:1: invalid YAML: found a list used as a key"),
        (
            "a: 1\n---\nb: 2\n",
            "s.yml:2:1: invalid YAML: expected a single document in the stream, but found another",
        ),
        ("a: '\x01'\n", "s.yml:1: invalid YAML: unacceptable character #x0001"),
    ],
)
def test_syntax_errors_are_one_line_with_a_position(text: str, expected: str) -> None:
    with pytest.raises(LoadError) as caught:
        load_yaml_text(text, "s.yml")
    message = str(caught.value)
    assert message.startswith(expected)
    assert "\n" not in message


def test_syntax_error_gives_a_hint_for_common_mistakes() -> None:
    with pytest.raises(LoadError) as caught:
        load_yaml_text("- command: echo a: b\n", "h.yml")
    assert caught.value.hint == "quote a value that contains ': '"


def test_python_tags_are_refused() -> None:
    with pytest.raises(LoadError):
        load_yaml_text("!!python/object/apply:os.system ['true']\n", "evil.yml")


def test_empty_document_is_none() -> None:
    assert load_yaml_text("", "e.yml") is None
    assert load_yaml_text("# only a comment\n", "e.yml") is None


def test_load_yaml_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "play.yml"
    path.write_text("- hosts: all\n")
    data = load_yaml_file(path)
    assert data.location == Location(str(path), 1, 1)
    assert data[0].key_location("hosts") == Location(str(path), 1, 3)


def test_load_yaml_file_strips_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "bom.yml"
    path.write_bytes(b"\xef\xbb\xbfa: 1\n")
    assert load_yaml_file(path) == {"a": 1}


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match=r"^file not found: .*nope\.yml$"):
        load_yaml_file(tmp_path / "nope.yml")


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="is a directory"):
        load_yaml_file(tmp_path)


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secret.yml"
    path.write_text("a: 1\n")

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(LoadError, match=r"cannot read .*secret\.yml: Permission denied"):
        load_yaml_file(path)


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yml"
    path.write_bytes(b"a: 1\nb: caf\xe9\n")
    with pytest.raises(LoadError) as caught:
        load_yaml_file(path)
    assert str(caught.value).startswith(f"{path}:2: not UTF-8 text")


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="libyaml is not available")
def test_libyaml_and_python_parsers_give_the_same_positions() -> None:
    def positions(value: object) -> list[tuple[object, ...]]:
        found: list[tuple[object, ...]] = []
        if isinstance(value, YamlDict):
            found.append(("map", value.location))
            for key, item in value.items():
                found.append(("key", key, value.key_location(key)))
                found += positions(item)
        elif isinstance(value, YamlList):
            found.append(("list", value.location))
            for item in value:
                found += positions(item)
        return found

    text = PLAYBOOK + "- hosts: db\n  vars: {a: [1, {b: 2}], 'c d': \"e\"}\n"
    fast = loader._parse(loader._FastLoader, text, "p.yml")
    python = loader._parse(loader._PythonLoader, text, "p.yml")
    assert fast == python
    assert positions(fast) == positions(python)
    assert len(positions(fast)) > 20


def test_loaded_data_survives_copy_and_pickle() -> None:
    import copy
    import pickle

    data = load_yaml_text("a:\n  b: [1, 2]\n", "c.yml")
    for clone in (copy.deepcopy(data), pickle.loads(pickle.dumps(data))):
        assert clone == data
        assert clone.location == data.location
        assert clone["a"].key_location("b") == Location("c.yml", 2, 3)
        assert clone["a"]["b"].item_location(1) == Location("c.yml", 2, 10)
