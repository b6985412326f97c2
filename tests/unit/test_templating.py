"""Templar: native types, strict undefined, sandbox, Ansible's filters, tests and lookups."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from deployplay.errors import Location, TemplateError
from deployplay.runner import templating
from deployplay.runner.loader import load_yaml_text
from deployplay.runner.templating import (
    Templar,
    UndefinedVariableError,
    check_expression_syntax,
    check_template_syntax,
    truth,
)

VARS = {
    "n": 3,
    "s": "Hello",
    "items": [3, 1, 2, 1],
    "conf": {"a": 1, "nested": {"x": 1, "y": 2}},
    "nothing": None,
    "users": [
        {"name": "ann", "admin": True},
        {"name": "bob", "admin": False},
    ],
}


@pytest.fixture
def t() -> Templar:
    return Templar(VARS)


def render(expr: str, **extra: object) -> object:
    return Templar({**VARS, **extra}).template("{{ " + expr + " }}")


# ---- native types and plain values ---------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ items }}", [3, 1, 2, 1]),
        ("{{ n }}", 3),
        ("{{ n + 1 }}", 4),
        ("{{ 1 + 2 }}", 3),
        ("{{ conf }}", {"a": 1, "nested": {"x": 1, "y": 2}}),
        ("{{ n > 2 }}", True),
        ("{{ nothing }}", None),
        ("{{ [1, 'a'] }}", [1, "a"]),
        ("  {{ n }}  ", "  3  "),
        ("port {{ n }}", "port 3"),
        ("{{ n }}{{ n }}", "33"),
        ("x{{ nothing }}y", "xy"),
        ("{% if n %}{{ items }}{% endif %}", [3, 1, 2, 1]),
        ("{% if false %}x{% endif %}", ""),
        ("{# a comment #}", ""),
    ],
)
def test_native_types_and_mixed_strings(t: Templar, source: str, expected: object) -> None:
    assert t.template(source) == expected
    assert type(t.template(source)) is type(expected)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("x {{ s }}\n", "x Hello\n"),
        ("{{ s }}\n\n", "Hello\n\n"),
        ("{% if n %}yes{% endif %}\n", "yes\n"),
        # A single expression keeps its native type; there is no text to add a newline to.
        ("{{ n }}\n", 3),
    ],
)
def test_trailing_newlines_are_kept_as_ansible(t: Templar, source: str, expected: object) -> None:
    assert t.template(source) == expected


@pytest.mark.parametrize(
    ("name", "shown", "errors"),
    [
        ("deploy {{ s }}", "deploy Hello", 0),
        ("{{ item }}", "<< error 1 - 'item' is undefined >>", 1),
        (
            "{{ s }} {{ item | upper }} and {{ other }}",
            "Hello << error 1 - 'item' is undefined >> and << error 2 - 'other' is undefined >>",
            2,
        ),
        ("{{ conf.b }}", "<< error 1 - object of type 'dict' has no attribute 'b' >>", 1),
        ("{% if n %}N{% endif %} {{ item }}", "N << error 1 - 'item' is undefined >>", 1),
        ("{% if item %}x{% endif %}", "{% if item %}x{% endif %}", 1),
    ],
)
def test_task_names_render_what_they_can_as_ansible(
    t: Templar, name: str, shown: str, errors: int
) -> None:
    assert t.template_name(name) == (shown, errors)


def test_plain_strings_and_non_strings_are_returned_as_they_are(t: Templar) -> None:
    plain = "no templates { here }"
    assert t.template(plain) is plain
    for value in (5, 2.5, True, None):
        assert t.template(value) is value


def test_template_recurses_through_containers(t: Templar) -> None:
    value = {"a": ["{{ n }}", ("{{ s }}", 1)], "{{ s }}": {"deep": "v{{ n }}"}}
    assert t.template(value) == {"a": [3, ("Hello", 1)], "Hello": {"deep": "v3"}}


def test_output_of_a_rendering_is_never_rendered_again() -> None:
    # What a host printed is data: a registered stdout holding "{{ ... }}" stays literal.
    templar = Templar({"out": {"stdout": "{{ secret }}"}, "secret": "s3cr3t"})
    assert templar.template("{{ out.stdout }}") == "{{ secret }}"
    assert templar.template("got: {{ out.stdout }}") == "got: {{ secret }}"


def test_map_without_list_gives_a_list(t: Templar) -> None:
    assert t.template("{{ items | map('string') }}") == ["3", "1", "2", "1"]


# ---- evaluate / is_true ---------------------------------------------------------------


def test_evaluate_bare_and_wrapped_expressions(t: Templar) -> None:
    assert t.evaluate("n > 2") is True
    assert t.evaluate("{{ n > 2 }}") is True
    assert t.evaluate("  items | length  ") == 4
    assert t.evaluate(True) is True
    assert t.evaluate(False) is False


def test_evaluate_refuses_text_mixed_with_braces(t: Templar) -> None:
    with pytest.raises(TemplateError, match="one expression"):
        t.evaluate("{{ s }} == 'Hello'")


def test_evaluate_refuses_trailing_garbage(t: Templar) -> None:
    with pytest.raises(TemplateError, match="syntax"):
        t.evaluate("n > 2 n")


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("n == 3", True),
        ("n == 4", False),
        (True, True),
        (False, False),
        (["n == 3", "s == 'Hello'"], True),
        (["n == 3", "s == 'x'"], False),
        ("'yes'", True),
        ("'no'", False),
        ("'False'", False),
        ("'true'", True),
        ("'off'", False),
        ("''", False),
        ("'some text'", True),
        ("items", True),
        ("nothing", False),
    ],
)
def test_is_true_follows_ansible(t: Templar, condition: object, expected: bool) -> None:
    assert t.is_true(condition) is expected


def test_is_true_on_a_string_variable_holding_no() -> None:
    assert Templar({"flag": "no"}).is_true("flag") is False
    assert Templar({"flag": "yes"}).is_true("flag") is True


def test_truth_of_plain_values() -> None:
    assert truth("Yes") and truth(1) and truth([0])
    assert not truth("0") and not truth(0) and not truth({}) and not truth("null")


# ---- errors ---------------------------------------------------------------------------


def test_undefined_variable_names_the_variable(t: Templar) -> None:
    with pytest.raises(UndefinedVariableError) as info:
        t.template("release-{{ version }}")
    assert "'version' is undefined" in str(info.value)


def test_undefined_variable_in_a_condition(t: Templar) -> None:
    with pytest.raises(TemplateError, match="'version' is undefined"):
        t.is_true("version == '1.0'")


def test_undefined_attribute_keeps_jinjas_words(t: Templar) -> None:
    with pytest.raises(TemplateError, match="'dict object' has no attribute 'missing'"):
        t.template("{{ conf.missing }}")


def test_undefined_inside_a_list_is_an_error(t: Templar) -> None:
    with pytest.raises(TemplateError, match="'ghost' is undefined"):
        t.template("{{ [1, ghost] }}")


def test_callers_attach_the_task_location(t: Templar) -> None:
    where = Location("release.yml", 14, 7)
    with pytest.raises(TemplateError) as info:
        try:
            t.template("{{ version }}")
        except TemplateError as exc:
            raise exc.at(where) from None
    assert str(info.value).startswith("release.yml:14:7: 'version' is undefined")


def test_syntax_error_says_what_is_wrong(t: Templar) -> None:
    with pytest.raises(TemplateError, match="template syntax error") as info:
        t.template("{{ n + }}")
    assert "line 1" in str(info.value)


def test_unknown_filter_is_a_syntax_error(t: Templar) -> None:
    with pytest.raises(TemplateError, match="No filter named 'bogus'"):
        t.template("{{ n | bogus }}")


def test_runtime_errors_become_template_errors(t: Templar) -> None:
    with pytest.raises(TemplateError, match="ZeroDivisionError"):
        t.template("{{ n / 0 }}")


def test_check_template_syntax_reports_location() -> None:
    where = Location("deploy.yml", 3, 5)
    check_template_syntax({"ok": ["{{ a }}", 1], "k": "plain"}, where)
    with pytest.raises(TemplateError) as info:
        check_template_syntax({"args": ["fine", {"msg": "{{ a | }}"}]}, where)
    assert str(info.value).startswith("deploy.yml:3:5: template syntax error")


def test_check_expression_syntax() -> None:
    where = Location("deploy.yml", 9)
    check_expression_syntax(["a is defined", "{{ b }}", True], where)
    with pytest.raises(TemplateError) as info:
        check_expression_syntax("a ==", where)
    assert str(info.value).startswith("deploy.yml:9: template syntax error")
    with pytest.raises(TemplateError, match=r"^deploy.yml:9: .* mixes text and \{\{ \}\}"):
        check_expression_syntax("{{ a }} == 1", where)


# ---- sandbox --------------------------------------------------------------------------


def test_sandbox_refuses_underscore_attributes(t: Templar) -> None:
    with pytest.raises(TemplateError, match="unsafe"):
        t.template("{{ ''.__class__ }}")
    with pytest.raises(TemplateError, match="unsafe"):
        t.template("{{ ''.__class__.__mro__[1].__subclasses__() }}")


def test_sandbox_caps_range(t: Templar) -> None:
    assert t.template("{{ range(3) | list }}") == [0, 1, 2]
    with pytest.raises(TemplateError, match="Range too big"):
        t.template("{{ range(100000000) | list }}")


def test_sandbox_refuses_mutating_variables() -> None:
    data = {"xs": [1]}
    with pytest.raises(TemplateError, match="unsafe"):
        Templar(data).template("{{ xs.append(2) }}")
    assert data == {"xs": [1]}


def test_compiled_templates_are_cached(t: Templar) -> None:
    source = "{{ n * 7 }} cached"
    t.template(source)
    before = templating._compile_template.cache_info().hits
    for _ in range(5):
        assert t.template(source) == "21 cached"
    assert templating._compile_template.cache_info().hits == before + 5


# ---- filters --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("ghost | default('d')", "d"),
        ("ghost | d('d')", "d"),
        ("nothing | default('d')", None),
        ("'' | default('d')", ""),
        ("'' | default('d', true)", "d"),
        ("nothing | default('d', true)", "d"),
        ("'yes' | bool", True),
        ("'On' | bool", True),
        ("'1' | bool", True),
        ("'no' | bool", False),
        ("'maybe' | bool", False),
        ("nothing | bool", False),
        ("1 | bool", True),
        ("'42' | int + 1", 43),
        ("'x' | int", 0),
        ("'1.5' | float", 1.5),
        ("n | string", "3"),
        ("s | lower", "hello"),
        ("s | upper", "HELLO"),
        ("items | join(',')", "3,1,2,1"),
        ("items | length", 4),
        ("users | map(attribute='name') | list", ["ann", "bob"]),
        ("items | select('gt', 1) | list", [3, 2]),
        ("items | reject('gt', 1) | list", [1, 1]),
        ("users | selectattr('admin') | map(attribute='name') | list", ["ann"]),
        ("users | rejectattr('admin') | map(attribute='name') | list", ["bob"]),
        ("items | unique | list", [3, 1, 2]),
        ("items | sort", [1, 1, 2, 3]),
        ("items | first", 3),
        ("items | last", 1),
        ("[[1, [2]], 3, none] | flatten", [1, 2, 3]),
        ("[[1, [2]], 3] | flatten(levels=1)", [1, [2], 3]),
        ("[1, 2] | zip(['a', 'b'])", [[1, "a"], [2, "b"]]),
        ("[1, 2, 3] | difference([2])", [1, 3]),
        ("[1, 2] | union([2, 3])", [1, 2, 3]),
        ("[1, 2] | intersect([2, 3])", [2]),
        ("'/srv/app/current/x.tar.gz' | basename", "x.tar.gz"),
        ("'/srv/app/current/x.tar.gz' | dirname", "/srv/app/current"),
        ("'/a/b.txt' | splitext", ["/a/b", ".txt"]),
        ('"it\'s here" | quote', "'it'\"'\"'s here'"),
        ("true | ternary('a', 'b')", "a"),
        ("false | ternary('a', 'b')", "b"),
        ("nothing | ternary('a', 'b', 'n')", "n"),
        ("'hello' | b64encode", "aGVsbG8="),
        ("'aGVsbG8=' | b64decode", "hello"),
        ("'hello' | hash('sha1')", "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"),
        ("'hello' | hash('md5')", "5d41402abc4b2a76b9719d911017c592"),
        ("'1.10' | version_compare('1.9', '>')", True),
        ("'a' | extract({'a': {'b': 1}}, 'b')", 1),
        ("{'a': 1} | type_debug", "dict"),
    ],
)
def test_filters(expr: str, expected: object) -> None:
    assert render(expr) == expected


def test_combine_replaces_then_merges_recursively() -> None:
    assert render("conf | combine({'nested': {'x': 9}})") == {"a": 1, "nested": {"x": 9}}
    assert render("conf | combine({'nested': {'x': 9}}, recursive=True)") == {
        "a": 1,
        "nested": {"x": 9, "y": 2},
    }
    assert render("{'a': 1} | combine({'b': 2}, {'a': 3})") == {"a": 3, "b": 2}
    assert render("[{'a': 1}, {'b': 2}] | combine") == {"a": 1, "b": 2}
    assert render("{'l': [1]} | combine({'l': [2]}, list_merge='append')") == {"l": [1, 2]}


def test_combine_refuses_non_dicts() -> None:
    with pytest.raises(TemplateError, match="combine expects dictionaries"):
        render("{'a': 1} | combine([1])")


def test_dict2items_and_back() -> None:
    assert render("{'a': 1, 'b': 2} | dict2items") == [
        {"key": "a", "value": 1},
        {"key": "b", "value": 2},
    ]
    assert render("{'a': 1} | dict2items(key_name='k', value_name='v')") == [{"k": "a", "v": 1}]
    assert render("[{'key': 'a', 'value': 1}] | items2dict") == {"a": 1}
    assert render("[{'n': 'a', 'v': 1}] | items2dict(key_name='n', value_name='v')") == {"a": 1}
    with pytest.raises(TemplateError, match="dict2items requires a dictionary"):
        render("[1] | dict2items")


def test_json_and_yaml_filters() -> None:
    assert json.loads(render("conf | to_json")) == VARS["conf"]
    assert render("'{\"a\": [1, 2]}' | from_json") == {"a": [1, 2]}
    assert render("{'b': 1, 'a': 2} | to_nice_json") == '{\n    "a": 2,\n    "b": 1\n}'
    assert yaml.safe_load(render("conf | to_yaml")) == VARS["conf"]
    nice = render("conf | to_nice_yaml")
    assert "nested:\n    x: 1" in nice
    assert render("'a: [1, 2]' | from_yaml") == {"a": [1, 2]}
    with pytest.raises(TemplateError, match="from_json"):
        render("'{nope' | from_json")


def test_yaml_and_json_filters_take_loaded_yaml() -> None:
    data = load_yaml_text("app:\n  ports: [80, 443]\n", "vars.yml")
    t = Templar({"data": data})
    assert yaml.safe_load(t.template("{{ data | to_yaml }}")) == {"app": {"ports": [80, 443]}}
    assert "ports:\n    - 80" in t.template("{{ data | to_nice_yaml }}")
    assert json.loads(t.template("{{ data | to_json }}")) == {"app": {"ports": [80, 443]}}


def test_regex_filters() -> None:
    assert render("'release v1.2.3 ok' | regex_search('v[0-9.]+')") == "v1.2.3"
    assert render("'release v1.2.3' | regex_search('v(\\\\d+)\\\\.(\\\\d+)', '\\\\2')") == ["2"]
    assert render("'abc' | regex_search('(?P<x>b)', '\\\\g<x>')") == ["b"]
    assert render("'abc' | regex_search('z')") is None
    assert render("'ABC' | regex_search('b', ignorecase=true)") == "B"
    assert render("'a-b-c' | regex_replace('-', '_')") == "a_b_c"
    assert render("'v1 v2' | regex_replace('v(\\\\d)', 'r\\\\1')") == "r1 r2"
    assert render("'a1b22' | regex_findall('\\\\d+')") == ["1", "22"]


def test_mandatory() -> None:
    assert render("n | mandatory") == 3
    with pytest.raises(TemplateError, match="Mandatory variable 'ghost' not defined"):
        render("ghost | mandatory")
    with pytest.raises(TemplateError, match="set it please"):
        render("ghost | mandatory('set it please')")


# ---- tests ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "op", "right", "expected"),
    [
        ("1.2.0", ">=", "1.2.0", True),
        ("1.2.0", "ge", "1.1.9", True),
        ("1.2.0", ">", "1.2.0", False),
        ("1.2.0", "gt", "1.1.10", True),
        ("1.10.0", ">", "1.9.0", True),
        ("1.2.0", "<", "1.10.0", True),
        ("1.2.0", "lt", "1.2.0", False),
        ("1.2.0", "<=", "1.2.0", True),
        ("1.2.0", "le", "1.1.0", False),
        ("1.2.0", "==", "1.2.0", True),
        ("1.2.0", "=", "1.2.0", True),
        ("1.2.0", "eq", "1.2.1", False),
        ("1.2.0", "!=", "1.2.1", True),
        ("1.2.0", "<>", "1.2.0", False),
        ("1.2.0", "ne", "1.2.0", False),
        ("1.0.0", "==", "1.0", False),  # loose, as Ansible: 1.0.0 is greater than 1.0
        ("1.0.0", ">", "1.0", True),
        ("v1.2", "<", "v1.10", True),
        ("v2.0.0", ">", "1.9.0", True),
        ("v1.2.0", "==", "1.2.0", True),
        ("1.2.0rc1", "<", "1.2.0rc2", True),
    ],
)
def test_version_test(left: str, op: str, right: str, expected: bool) -> None:
    assert render(f"'{left}' is version('{right}', '{op}')") is expected


def test_version_test_default_operator_is_eq() -> None:
    assert render("'1.2' is version('1.2')") is True
    assert render("'1.2' is version_compare('1.3')") is False


def test_version_semver_and_strict() -> None:
    semver = "version_type='semver'"
    assert render(f"'1.2.0-rc.1' is version('1.2.0', '<', {semver})") is True
    assert render(f"'1.2.0-rc.2' is version('1.2.0-rc.10', '<', {semver})") is True
    assert render(f"'1.2.0+build5' is version('1.2.0', '==', {semver})") is True
    assert render("'1.2a1' is version('1.2', '<', strict=true)") is True
    with pytest.raises(TemplateError, match="invalid version number"):
        render("'1.2.3rc1' is version('1.2', '<', strict=true)")
    with pytest.raises(TemplateError, match="invalid semantic version"):
        render(f"'1.2' is version('1.2.0', '<', {semver})")


def test_version_refuses_unknown_operator() -> None:
    with pytest.raises(TemplateError, match="invalid operator"):
        render("'1' is version('2', '~=')")


def test_defined_and_undefined(t: Templar) -> None:
    assert t.evaluate("n is defined") is True
    assert t.evaluate("ghost is defined") is False
    assert t.evaluate("ghost is undefined") is True
    assert t.evaluate("conf.missing is undefined") is True
    assert t.evaluate("nothing is defined") is True


RESULTS = {
    "ok": {"changed": False, "failed": False},
    "changed": {"changed": True},
    "bad": {"failed": True, "msg": "boom"},
    "skipped": {"skipped": True, "changed": False},
    "looped": {"results": [{"changed": False}, {"changed": True}]},
}


@pytest.mark.parametrize(
    ("name", "test", "expected"),
    [
        ("ok", "succeeded", True),
        ("ok", "success", True),
        ("ok", "failed", False),
        ("bad", "failed", True),
        ("bad", "failure", True),
        ("bad", "succeeded", False),
        ("changed", "changed", True),
        ("changed", "change", True),
        ("ok", "changed", False),
        ("looped", "changed", True),
        ("skipped", "skipped", True),
        ("skipped", "skip", True),
        ("ok", "skipped", False),
    ],
)
def test_result_tests(name: str, test: str, expected: bool) -> None:
    assert Templar({"r": RESULTS[name]}).evaluate(f"r is {test}") is expected


def test_result_tests_want_a_dict() -> None:
    with pytest.raises(TemplateError, match="expects a registered result"):
        Templar({"r": "text"}).evaluate("r is failed")


def test_string_tests() -> None:
    url = "https://example.com/users/foo"
    t = Templar({"url": url})
    assert t.evaluate("url is match('https://example.com/users/.*')") is True
    assert t.evaluate("url is match('example.com')") is False
    assert t.evaluate("url is search('users')") is True
    assert t.evaluate("url is search('USERS', ignorecase=true)") is True
    assert t.evaluate("url is regex('example\\\\.(com|org)')") is True
    assert t.evaluate("url is regex('users', match_type='match')") is False


def test_truthy_falsy_in_contains(t: Templar) -> None:
    assert t.evaluate("'any string' is truthy") is True
    assert t.evaluate("'' is falsy") is True
    assert t.evaluate("'no' is truthy") is True
    assert t.evaluate("'no' is truthy(convert_bool=true)") is False
    assert t.evaluate("1 in items") is True
    assert t.evaluate("9 in items") is False
    assert t.evaluate("items is contains(2)") is True


# ---- lookups --------------------------------------------------------------------------


def test_lookup_env(t: Templar, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DP_TEST_A", "alpha")
    monkeypatch.setenv("DP_TEST_B", "beta")
    monkeypatch.delenv("DP_TEST_NONE", raising=False)
    assert t.template("{{ lookup('env', 'DP_TEST_A') }}") == "alpha"
    assert t.template("{{ lookup('env', 'DP_TEST_A', 'DP_TEST_B') }}") == "alpha,beta"
    assert t.template("{{ query('env', 'DP_TEST_A', 'DP_TEST_B') }}") == ["alpha", "beta"]
    assert t.template("{{ q('env', 'DP_TEST_A') }}") == ["alpha"]
    assert t.template("{{ lookup('env', 'DP_TEST_A', wantlist=true) }}") == ["alpha"]
    assert t.template("{{ lookup('env', 'DP_TEST_NONE') }}") == ""
    assert t.template("{{ lookup('env', 'DP_TEST_NONE', default='x') }}") == "x"


def test_lookup_file_relative_to_searchpath(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    (tmp_path / "motd.txt").write_text("hello\n")
    (tmp_path / "files" / "key.pub").write_text("ssh-ed25519 AAA\n")
    t = Templar({}, searchpath=[tmp_path])
    assert t.template("{{ lookup('file', 'motd.txt') }}") == "hello"
    assert t.template("{{ lookup('file', 'key.pub') }}") == "ssh-ed25519 AAA"
    assert t.template("{{ lookup('file', '" + str(tmp_path / "motd.txt") + "') }}") == "hello"
    with pytest.raises(TemplateError, match=r"could not find 'nope\.txt'"):
        t.template("{{ lookup('file', 'nope.txt') }}")
    assert t.template("{{ query('file', 'nope.txt', errors='ignore') }}") == []


def test_lookup_pipe_runs_on_the_controller(tmp_path: Path) -> None:
    t = Templar({}, searchpath=[tmp_path])
    assert t.template("{{ lookup('pipe', 'echo hi; echo there') }}") == "hi\nthere"
    assert t.template("{{ lookup('pipe', 'pwd') }}") == str(tmp_path)
    with pytest.raises(TemplateError, match="exited with 3"):
        t.template("{{ lookup('pipe', 'echo oops >&2; exit 3') }}")


def test_lookup_vars_and_unknown_lookup() -> None:
    t = Templar({"a_x": 1, "which": "x"})
    assert t.template("{{ lookup('vars', 'a_' + which) }}") == 1
    assert t.template("{{ lookup('vars', 'nope', default=0) }}") == 0
    with pytest.raises(TemplateError, match="unknown lookup 'nosuch'"):
        t.template("{{ lookup('nosuch', 'x') }}")


# ---- render_file ----------------------------------------------------------------------


def test_render_file_with_include_and_trailing_newline(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "header.j2").write_text("# {{ s }}\n")
    src = tmp_path / "app.conf.j2"
    src.write_text(
        "{% include 'header.j2' %}{% for i in items | unique %}\nitem={{ i }}\n{% endfor %}\n"
    )
    out = Templar(VARS, searchpath=[tmp_path]).render_file(src)
    assert out == "# Hello\nitem=3\nitem=1\nitem=2\n"  # trim_blocks, as Ansible
    assert isinstance(out, str)


def test_render_file_error_names_file_and_line(tmp_path: Path) -> None:
    src = tmp_path / "bad.j2"
    src.write_text("line one\nport={{ port }}\n")
    with pytest.raises(UndefinedVariableError) as info:
        Templar(VARS).render_file(src)
    assert str(info.value).startswith(f"{src}:2: 'port' is undefined")
    src.write_text("ok\n{% if %}\n")
    with pytest.raises(TemplateError, match=f"{src}:2: template syntax error"):
        Templar(VARS).render_file(src)


def test_render_file_missing(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="template file not found"):
        Templar(VARS).render_file(tmp_path / "nope.j2")


def test_filters_run_on_the_controller_environment() -> None:
    # Sanity: lookups see the controller's environment, not anything host-side.
    assert render("lookup('env', 'PATH')") == os.environ.get("PATH", "")
