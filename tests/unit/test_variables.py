"""VariableManager: Ansible's precedence level by level, lazy views, magic vars, extra vars."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from deployplay.errors import LoadError, Location, TemplateError, UserError
from deployplay.runner.templating import Templar, UndefinedVariableError
from deployplay.runner.variables import OMIT, VariableManager, parse_extra_vars


class FakeInventory:
    """The inventory seam: var_layers (lowest first), group_names, groups_map, hosts."""

    def __init__(
        self, layers: dict[str, list[dict[str, Any]]], groups: dict[str, list[str]]
    ) -> None:
        self.layers = layers
        self.groups = groups
        self.hosts = {name: object() for name in layers}
        self.layer_calls = 0

    def var_layers(self, host: str) -> list[dict[str, Any]]:
        self.layer_calls += 1
        return self.layers[host]

    def group_names(self, host: str) -> list[str]:
        return sorted(g for g, members in self.groups.items() if host in members and g != "all")

    def groups_map(self) -> dict[str, list[str]]:
        return self.groups


@dataclass
class FakePlay:
    name: str = "deploy"
    vars: dict[str, Any] = field(default_factory=dict)
    vars_files: tuple[Any, ...] = ()
    location: Location | None = field(default_factory=lambda: Location("site.yml", 2, 3))
    path: Path | None = None


def inventory(**host_layers: list[dict[str, Any]]) -> FakeInventory:
    hosts = list(host_layers)
    return FakeInventory(host_layers, {"all": hosts, "web": hosts[:1], "ungrouped": hosts[1:]})


def manager(tmp_path: Path, extra: dict[str, Any] | None = None, **kw: Any) -> VariableManager:
    inv = inventory(
        web1=[{"where": "group", "port": 80}, {"where": "host", "role": "canary"}],
        web2=[{"where": "group", "port": 81}],
    )
    return VariableManager(inv, extra or {}, tmp_path, **kw)


# ---- precedence, one adjacent pair at a time -------------------------------------------


def test_inventory_layers_later_wins(tmp_path: Path) -> None:
    assert manager(tmp_path).host_view("web1")["where"] == "host"


def test_play_vars_beat_inventory(tmp_path: Path) -> None:
    view = manager(tmp_path).host_view("web1", FakePlay(vars={"where": "play"}))
    assert view["where"] == "play"
    assert view["role"] == "canary"


def test_vars_files_beat_play_vars(tmp_path: Path) -> None:
    (tmp_path / "v.yml").write_text("where: vars_file\n")
    play = FakePlay(vars={"where": "play"}, vars_files=("v.yml",))
    assert manager(tmp_path).host_view("web1", play)["where"] == "vars_file"


def test_block_vars_beat_vars_files(tmp_path: Path) -> None:
    (tmp_path / "v.yml").write_text("where: vars_file\n")
    play = FakePlay(vars_files=("v.yml",))
    view = manager(tmp_path).host_view("web1", play, scopes=[{"where": "block"}])
    assert view["where"] == "block"


def test_inner_block_beats_outer_block(tmp_path: Path) -> None:
    scopes = [{"where": "outer", "o": 1}, {"where": "inner"}]
    view = manager(tmp_path).host_view("web1", FakePlay(), scopes=scopes)
    assert view["where"] == "inner"
    assert view["o"] == 1


def test_task_vars_beat_block_vars(tmp_path: Path) -> None:
    scopes = [{"where": "block"}, {"where": "task"}]  # the task's vars come last
    assert manager(tmp_path).host_view("web1", FakePlay(), scopes=scopes)["where"] == "task"


def test_set_fact_beats_task_vars(tmp_path: Path) -> None:
    vm = manager(tmp_path)
    vm.set_facts("web1", {"where": "fact"})
    assert vm.host_view("web1", FakePlay(), scopes=[{"where": "task"}])["where"] == "fact"


def test_register_and_set_fact_share_a_level_later_wins(tmp_path: Path) -> None:
    vm = manager(tmp_path)
    vm.set_facts("web1", {"where": "fact"})
    vm.register("web1", "where", {"changed": True})
    assert vm.host_view("web1")["where"] == {"changed": True}
    vm.set_facts("web1", {"where": "fact again"})
    assert vm.host_view("web1")["where"] == "fact again"


def test_extra_vars_beat_set_fact(tmp_path: Path) -> None:
    vm = manager(tmp_path, extra={"where": "extra"})
    vm.set_facts("web1", {"where": "fact"})
    assert vm.host_view("web1", FakePlay(vars={"where": "play"}))["where"] == "extra"


def test_magic_vars_beat_extra_vars_and_executor_extra_beats_all(tmp_path: Path) -> None:
    vm = manager(tmp_path, extra={"inventory_hostname": "spoof", "item": "extra"})
    assert vm.host_view("web1")["inventory_hostname"] == "web1"
    assert vm.host_view("web1", extra={"item": 7})["item"] == 7


def test_dicts_are_replaced_not_merged(tmp_path: Path) -> None:
    inv = inventory(web1=[{"app": {"port": 80, "name": "a"}}, {"app": {"port": 81}}])
    vm = VariableManager(inv, {}, tmp_path)
    assert vm.host_view("web1", FakePlay(vars={}))["app"] == {"port": 81}


def test_facts_are_per_host_and_kept_across_plays(tmp_path: Path) -> None:
    vm = manager(tmp_path)
    vm.register("web1", "out", {"stdout": "x"})
    assert vm.host_view("web1", FakePlay(name="second"))["out"] == {"stdout": "x"}
    assert "out" not in vm.host_view("web2", FakePlay(name="second"))


# ---- laziness -------------------------------------------------------------------------


def test_group_var_template_uses_host_var(tmp_path: Path) -> None:
    inv = inventory(
        web1=[{"url": "http://{{ host }}:{{ port }}", "port": 80}, {"host": "10.0.0.1"}],
        web2=[{"url": "http://{{ host }}:{{ port }}", "port": 80}, {"host": "h2", "port": 9}],
    )
    vm = VariableManager(inv, {}, tmp_path)
    assert vm.host_view("web1")["url"] == "http://10.0.0.1:80"
    assert vm.host_view("web2")["url"] == "http://h2:9"


def test_lazy_value_renders_against_the_full_view(tmp_path: Path) -> None:
    play = FakePlay(vars={"dest": "/srv/{{ app }}/{{ version }}", "ports": "{{ [port, 443] }}"})
    view = manager(tmp_path, extra={"version": "1.2"}).host_view(
        "web1", play, scopes=[{"app": "shop"}]
    )
    assert view["dest"] == "/srv/shop/1.2"
    assert view["ports"] == [80, 443]  # native type survives laziness
    assert Templar(view).template("{{ dest }}/x") == "/srv/shop/1.2/x"


def test_nested_templates_in_containers_are_rendered(tmp_path: Path) -> None:
    play = FakePlay(vars={"cfg": {"listen": ["{{ port }}"], "name": "{{ role }}"}})
    assert manager(tmp_path).host_view("web1", play)["cfg"] == {"listen": [80], "name": "canary"}


def test_recursion_is_detected(tmp_path: Path) -> None:
    play = FakePlay(vars={"a": "{{ b }}", "b": "x{{ a }}", "me": "{{ me }}"})
    view = manager(tmp_path).host_view("web1", play)
    with pytest.raises(TemplateError, match="recursive loop detected in template for 'a'"):
        view["a"]
    with pytest.raises(TemplateError, match="recursive loop detected in template for 'me'"):
        Templar(view).template("{{ me }}")


def test_recursion_through_hostvars_is_detected(tmp_path: Path) -> None:
    inv = inventory(web1=[{"x": "{{ hostvars['web1']['x'] }}"}], web2=[{}])
    view = VariableManager(inv, {}, tmp_path).host_view("web1")
    with pytest.raises(TemplateError, match="recursive loop detected"):
        view["x"]


def test_undefined_inside_a_lazy_value(tmp_path: Path) -> None:
    play = FakePlay(vars={"url": "http://{{ host }}:{{ port }}"})
    view = manager(tmp_path).host_view("web1", play)
    with pytest.raises(UndefinedVariableError) as info:
        view["url"]
    assert "'host' is undefined" in str(info.value)
    assert "'url'" in str(info.value)
    templar = Templar(view)
    assert templar.template("{{ url | default('none') }}") == "none"
    assert templar.evaluate("url is defined") is False
    with pytest.raises(TemplateError, match="'host' is undefined"):
        templar.template("{{ url }}")


def test_membership_does_not_render(tmp_path: Path) -> None:
    view = manager(tmp_path).host_view("web1", FakePlay(vars={"broken": "{{ nope }}"}))
    assert "broken" in view
    assert "missing" not in view
    assert view.get("missing", 5) == 5


def test_registered_output_is_never_rendered(tmp_path: Path) -> None:
    vm = manager(tmp_path, extra={"secret": "s3cr3t"})
    vm.register("web1", "out", {"stdout": "{{ secret }}"})
    vm.set_facts("web1", {"motd": "{{ secret }}"})
    view = vm.host_view("web1")
    assert view["out"]["stdout"] == "{{ secret }}"
    assert view["motd"] == "{{ secret }}"
    assert Templar(view).template("{{ out.stdout }}") == "{{ secret }}"


def test_executor_extra_is_never_rendered(tmp_path: Path) -> None:
    view = manager(tmp_path).host_view("web1", extra={"item": "{{ port }}"})
    assert view["item"] == "{{ port }}"


def test_view_iterates_unique_names(tmp_path: Path) -> None:
    view = manager(tmp_path).host_view("web1", FakePlay(vars={"where": "play", "p": 1}))
    names = list(view)
    assert len(names) == len(set(names)) == len(view)
    assert {"where", "p", "role", "inventory_hostname", "hostvars"} <= set(names)


# ---- magic vars -----------------------------------------------------------------------


def test_magic_vars(tmp_path: Path) -> None:
    inv = inventory(**{"web1.example.com": [{}], "db1": [{}]})
    vm = VariableManager(inv, {}, tmp_path, check_mode=True)
    play = FakePlay(name="release")
    view = vm.host_view(
        "web1.example.com", play, play_hosts=["web1.example.com"], play_batch=["web1.example.com"]
    )
    assert view["inventory_hostname"] == "web1.example.com"
    assert view["inventory_hostname_short"] == "web1"
    assert view["group_names"] == ["web"]
    assert view["groups"]["all"] == ["web1.example.com", "db1"]
    assert view["groups"]["web"] == ["web1.example.com"]
    assert view["play_hosts"] == view["ansible_play_hosts"] == ["web1.example.com"]
    assert view["ansible_play_batch"] == ["web1.example.com"]
    assert view["ansible_check_mode"] is True and view["check_mode"] is True
    assert view["playbook_dir"] == str(tmp_path)
    assert view["ansible_play_name"] == "release"
    assert view["omit"] == OMIT and OMIT.startswith("__omit_place_holder__")


def test_play_batch_defaults_to_play_hosts(tmp_path: Path) -> None:
    view = manager(tmp_path).host_view("web1", play_hosts=["web1", "web2"])
    assert view["ansible_play_batch"] == ["web1", "web2"]


def test_hostvars(tmp_path: Path) -> None:
    inv = inventory(
        web1=[{"url": "http://{{ inventory_hostname }}:{{ port }}", "port": 80}],
        web2=[
            {"url": "http://{{ inventory_hostname }}:{{ port }}", "port": 81},
            {"peer_port": "{{ hostvars['web1'].port }}"},
        ],
    )
    vm = VariableManager(inv, {"env": "prod"}, tmp_path)
    vm.register("web2", "result", {"changed": True})
    view = vm.host_view("web1", FakePlay(vars={"play_only": 1}))
    hostvars = view["hostvars"]
    assert set(hostvars) == {"web1", "web2"} and len(hostvars) == 2
    assert hostvars["web2"]["url"] == "http://web2:81"  # rendered against web2's own view
    assert hostvars["web2"]["result"] == {"changed": True}
    assert hostvars["web2"]["env"] == "prod"
    assert "play_only" not in hostvars["web1"]  # no play-local vars, as Ansible
    assert "hostvars" not in hostvars["web1"]
    assert hostvars["web2"]["peer_port"] == 80  # its own templates still reach hostvars
    t = Templar(view)
    assert t.template("{{ hostvars.web2.port }}") == 81
    assert t.template("{{ groups['all'] | map('extract', hostvars, 'port') | list }}") == [80, 81]
    assert t.evaluate("hostvars['web2'].result is changed") is True
    assert json.loads(t.template("{{ hostvars['web2'] | to_json }}"))["port"] == 81
    assert "nohost" not in hostvars
    with pytest.raises(TemplateError, match="no attribute 'nohost'"):
        t.template("{{ hostvars['nohost'].port }}")


# ---- vars_files -----------------------------------------------------------------------


def test_vars_files_relative_to_the_playbook_and_loaded_once(tmp_path: Path) -> None:
    (tmp_path / "vars").mkdir()
    (tmp_path / "vars" / "a.yml").write_text("a: 1\nshared: a\n")
    (tmp_path / "vars" / "b.yml").write_text("shared: b\nlazy: '{{ a + 1 }}'\n")
    play = FakePlay(vars_files=("vars/a.yml", "vars/b.yml"), path=tmp_path / "site.yml")
    vm = manager(tmp_path / "elsewhere")
    view = vm.host_view("web1", play)
    assert (view["a"], view["shared"], view["lazy"]) == (1, "b", 2)
    (tmp_path / "vars" / "a.yml").write_text("a: 99\n")
    assert vm.host_view("web2", play)["a"] == 1  # loaded once per play


def test_vars_files_name_templated_per_host(tmp_path: Path) -> None:
    (tmp_path / "canary.yml").write_text("tier: first\n")
    (tmp_path / "default.yml").write_text("tier: later\n")
    inv = inventory(web1=[{"kind": "canary"}], web2=[{"kind": "default"}])
    vm = VariableManager(inv, {}, tmp_path)
    play = FakePlay(vars_files=("{{ kind }}.yml",), path=tmp_path / "site.yml")
    assert vm.host_view("web1", play)["tier"] == "first"
    assert vm.host_view("web2", play)["tier"] == "later"


def test_vars_files_list_entry_takes_the_first_found(tmp_path: Path) -> None:
    (tmp_path / "common.yml").write_text("x: common\n")
    play = FakePlay(vars_files=(["missing.yml", "common.yml"],), path=tmp_path / "site.yml")
    assert manager(tmp_path).host_view("web1", play)["x"] == "common"


def test_vars_files_missing_names_the_play(tmp_path: Path) -> None:
    play = FakePlay(vars_files=("nope.yml",), path=tmp_path / "site.yml")
    with pytest.raises(LoadError) as info:
        manager(tmp_path).host_view("web1", play)
    assert str(info.value).startswith("site.yml:2:3: vars_files: cannot find")
    assert "nope.yml" in str(info.value)


def test_vars_files_must_be_a_mapping(tmp_path: Path) -> None:
    (tmp_path / "list.yml").write_text("- 1\n- 2\n")
    (tmp_path / "empty.yml").write_text("")
    play = FakePlay(vars_files=("list.yml",), path=tmp_path / "site.yml")
    with pytest.raises(LoadError, match="must hold a mapping"):
        manager(tmp_path).host_view("web1", play)
    empty = FakePlay(vars_files=("empty.yml",), path=tmp_path / "site.yml")
    assert "where" in manager(tmp_path).host_view("web1", empty)


def test_vars_files_undefined_name_names_the_play(tmp_path: Path) -> None:
    play = FakePlay(vars_files=("{{ nothing }}.yml",), path=tmp_path / "site.yml")
    with pytest.raises(TemplateError, match=r"^site.yml:2:3: 'nothing' is undefined"):
        manager(tmp_path).host_view("web1", play)


# ---- extra vars -----------------------------------------------------------------------


def test_extra_vars_key_value_pairs_are_strings(tmp_path: Path) -> None:
    result = parse_extra_vars(["version=1.2.3 count=3", "msg='hello world' empty="], tmp_path)
    assert result == {"version": "1.2.3", "count": "3", "msg": "hello world", "empty": ""}


def test_extra_vars_json_yaml_and_files(tmp_path: Path) -> None:
    (tmp_path / "e.yml").write_text("from_yaml: [1, 2]\nshared: yaml\n")
    (tmp_path / "e.json").write_text('{"from_json": {"a": 1}, "shared": "json"}')
    result = parse_extra_vars(
        ['{"n": 1, "ok": true}', "{flow: yaml}", "@e.yml", "@e.json"], tmp_path
    )
    assert result == {
        "n": 1,
        "ok": True,
        "flow": "yaml",
        "from_yaml": [1, 2],
        "from_json": {"a": 1},
        "shared": "json",
    }


def test_extra_vars_later_wins(tmp_path: Path) -> None:
    assert parse_extra_vars(["a=1 b=1", '{"a": 2}', "a=3"], tmp_path) == {"a": "3", "b": "1"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("novalue", "is not name=value"),
        ("=x", "is not name=value"),
        ("a='open", "check the quotes"),
        ("[1, 2]", "must be a mapping"),
        ('{"a": ', "not valid JSON/YAML"),
        ("@missing.yml", "no such file"),
    ],
)
def test_extra_vars_errors(tmp_path: Path, value: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_extra_vars([value], tmp_path)


# ---- speed ----------------------------------------------------------------------------


def test_views_are_cheap_and_inventory_merge_is_cached(tmp_path: Path) -> None:
    hosts = {
        f"h{i}": [{"port": 8000 + i, "url": "http://{{ inventory_hostname }}:{{ port }}"}]
        for i in range(50)
    }
    inv = FakeInventory(hosts, {"all": list(hosts)})
    vm = VariableManager(inv, {"version": "1.0"}, tmp_path)
    play = FakePlay(vars={"dest": "/srv/app/{{ version }}"})
    started = time.perf_counter()
    for task in range(200):
        for host in hosts:
            view = vm.host_view(host, play, scopes=[{"n": task}], play_hosts=list(hosts))
            args = Templar(view).template({"url": "{{ url }}/{{ n }}", "dest": "{{ dest }}"})
    elapsed = time.perf_counter() - started
    assert args == {"url": "http://h49:8049/199", "dest": "/srv/app/1.0"}
    assert inv.layer_calls == 50
    assert elapsed < 30, f"10000 views took {elapsed:.1f}s"
