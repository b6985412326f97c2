"""Inventories: Ansible's YAML and INI formats, variables in Ansible's order, patterns, -i lookup.

The fixtures under data/inventories/ were checked against ansible-core 2.21
(`ansible-inventory --list`, `ansible PATTERN --list-hosts`): same hosts,
groups and merged variables. Host order differs on purpose: deployplay keeps
the order hosts are first written in the inventory.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from deployplay.errors import InventoryError, LoadError, Location
from deployplay.runner.inventory import (
    ConnectionSettings,
    Host,
    Inventory,
    connection_settings_from_layers,
    resolve_inventory,
    split_host_pattern,
)
from deployplay.runner.inventory_sources import expand_host_range, ini_value

DATA = Path(__file__).parent / "data" / "inventories"
PROJECT = DATA / "project"
PLAYBOOKS = PROJECT / "playbooks"
WEB01 = "web01.prod.example.com"
WEB02 = "web02.prod.example.com"


@pytest.fixture(scope="module")
def prod() -> Inventory:
    return Inventory.load("prod", playbook_dir=PLAYBOOKS, cwd=PROJECT)


@pytest.fixture(scope="module")
def staging() -> Inventory:
    return Inventory.load(PROJECT / "inventories" / "staging.ini")


def names(hosts: list[Host]) -> list[str]:
    return [h.name for h in hosts]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# -- -i NAME and -i PATH -------------------------------------------------------------------


def test_name_is_found_next_to_the_playbook_before_the_working_directory() -> None:
    found = resolve_inventory("local", playbook_dir=PLAYBOOKS, cwd=PROJECT)
    assert found == PLAYBOOKS / "inventories" / "local.yml"
    assert resolve_inventory("prod", playbook_dir=PLAYBOOKS, cwd=PROJECT) == (
        PROJECT / "inventories" / "prod.yml"
    )


def test_playbook_inventory_wins_over_working_directory(tmp_path: Path) -> None:
    write(tmp_path / "pb" / "inventories" / "prod.ini", "[web]\npb-web\n")
    write(tmp_path / "inventories" / "prod.yml", "web:\n  hosts:\n    cwd-web:\n")
    inventory = Inventory.load("prod", playbook_dir=tmp_path / "pb", cwd=tmp_path)
    assert list(inventory.hosts) == ["pb-web"]
    assert list(Inventory.load("prod", cwd=tmp_path).hosts) == ["cwd-web"]


@pytest.mark.parametrize("filename", ["x.yml", "x.yaml", "x.ini", "x/hosts"])
def test_name_accepts_each_suffix_and_a_directory(tmp_path: Path, filename: str) -> None:
    body = "[web]\nw1\n" if not filename.endswith((".yml", ".yaml")) else "web: {hosts: {w1: }}"
    write(tmp_path / "inventories" / filename, body)
    assert list(Inventory.load("x", cwd=tmp_path).hosts) == ["w1"]


def test_path_is_relative_to_the_working_directory(tmp_path: Path) -> None:
    write(tmp_path / "conf" / "hosts.ini", "h1\n")
    assert list(Inventory.load("conf/hosts.ini", cwd=tmp_path).hosts) == ["h1"]
    assert list(Inventory.load(tmp_path / "conf" / "hosts.ini").hosts) == ["h1"]


def test_missing_name_says_where_it_looked_and_suggests() -> None:
    with pytest.raises(InventoryError) as caught:
        Inventory.load("prd", playbook_dir=PLAYBOOKS, cwd=PROJECT)
    message = str(caught.value)
    assert "inventory 'prd' not found" in message
    assert f"{PLAYBOOKS}/inventories/" in message and f"{PROJECT}/inventories/" in message
    assert "prd.yml, prd.yaml, prd.ini" in message
    assert message.endswith("(did you mean 'prod'?)")
    assert "\n" not in message


def test_missing_name_without_a_close_match_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match=r"create inventories/zzz\.yml next to the playbook"):
        Inventory.load("zzz", cwd=tmp_path)


def test_missing_path_names_it(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match=r"inventory not found: .*/nope/hosts\.yml"):
        Inventory.load("nope/hosts.yml", cwd=tmp_path)


def test_comma_list_is_a_list_of_hosts(tmp_path: Path) -> None:
    inventory = Inventory.load("a1,b2,", cwd=tmp_path)
    assert names(inventory.select("all")) == ["a1", "b2"]
    assert inventory.groups_map()["ungrouped"] == ["a1", "b2"]


# -- implicit localhost ----------------------------------------------------------------------


def test_no_source_has_only_the_implicit_localhost() -> None:
    inventory = Inventory.load(None)
    assert inventory.hosts == {}
    assert inventory.select("all") == []
    (local,) = inventory.select("localhost")
    assert local == Host("localhost", (), implicit=True)
    assert inventory.connection_settings("localhost").connection == "local"
    assert inventory.groups_map() == {"all": [], "ungrouped": []}
    assert inventory.group_names("localhost") == []


def test_implicit_localhost_is_not_in_all_but_gets_all_vars(prod: Inventory) -> None:
    assert "localhost" not in names(prod.select("all"))
    assert names(prod.select("all:localhost"))[-1] == "localhost"
    variables = prod.host_vars("localhost")
    assert variables["app_path"] == "/srv/app"  # inventory vars of 'all'
    assert variables["from_all_file"] is True  # group_vars/all.yml
    assert variables["ansible_connection"] == "local"
    assert "localhost" not in prod.groups_map()["all"]


def test_listed_localhost_is_an_ordinary_host(tmp_path: Path) -> None:
    inventory = Inventory.load(write(tmp_path / "i.ini", "localhost\nweb1\n"))
    assert names(inventory.select("all")) == ["localhost", "web1"]
    assert inventory.get_host("localhost").implicit is False
    assert inventory.connection_settings("localhost").connection == "ssh"  # as Ansible


# -- YAML format -----------------------------------------------------------------------------


def test_yaml_groups_children_ranges_and_top_level_groups(prod: Inventory) -> None:
    assert prod.groups_map() == {
        "all": [WEB01, WEB02, "canary01", "db1", "bastion"],
        "ungrouped": ["bastion"],
        "web": [WEB01, WEB02, "canary01"],
        "db": ["db1"],
        "empty": [],
        "canary": ["canary01"],
    }
    assert prod.group_names("canary01") == ["canary", "web"]
    assert prod.hosts["bastion"].groups == ("ungrouped",)  # Ansible's group_names keeps it


def test_yaml_string_shorthand_and_null_sections() -> None:
    inventory = Inventory.from_mapping(
        {"web": {"hosts": "w1", "vars": None}, "prod": {"children": "web"}, "db": None}
    )
    assert inventory.groups_map()["prod"] == ["w1"]
    assert inventory.groups_map()["db"] == []


def test_a_host_listed_twice_merges_its_vars_and_groups() -> None:
    inventory = Inventory.from_mapping(
        {
            "web": {"hosts": {"h": {"a": 1, "b": 1}}},
            "db": {"hosts": {"h": {"b": 2}}},
        }
    )
    assert inventory.host_vars("h") == {"a": 1, "b": 2}
    assert inventory.group_names("h") == ["db", "web"]


@pytest.mark.parametrize(
    ("body", "message", "line"),
    [
        ("web:\n  host:\n    w1:\n", "group 'web': unknown key 'host'.*did you mean 'hosts'", 2),
        ("web:\n  hosts:\n    - w1\n", "group 'web': hosts must be a mapping, not a YamlList", 2),
        (
            "web:\n  hosts:\n    w1: just-a-string\n",
            "host 'w1': its variables must be a mapping",
            3,
        ),
        ("web:\n  hosts:\n    42:\n", "host 42 in group 'web' must be a string", 3),
        ("web: [a, b]\n", "group 'web' must be a mapping", 1),
        ("- web\n", "a YAML inventory is a mapping of groups, not a YamlList", 1),
        ("plugin: aws_ec2\n", "inventory plugins are not supported", 1),
        ("a:\n  children:\n    b:\n      children:\n        a:\n", "makes a loop", 3),
        ("web:\n  hosts:\n    w[3:1]:\n", r"host range 'w\[3:1\]': the range is empty", 3),
    ],
)
def test_yaml_mistakes_point_at_the_line(
    tmp_path: Path, body: str, message: str, line: int
) -> None:
    path = write(tmp_path / "bad.yml", body)
    with pytest.raises(InventoryError, match=message) as caught:
        Inventory.load(path)
    assert caught.value.location is not None
    assert (caught.value.location.file, caught.value.location.line) == (str(path), line)


def test_empty_yaml_inventory_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="the inventory is empty"):
        Inventory.load(write(tmp_path / "empty.yml", "# nothing\n"))
    with pytest.raises(LoadError, match="duplicate key 'web'"):
        Inventory.load(write(tmp_path / "dup.yml", "web:\nweb:\n"))


# -- ranges ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("web[01:03]", ["web01", "web02", "web03"]),
        ("web[8:10].example.com", ["web8.example.com", "web9.example.com", "web10.example.com"]),
        ("db-[a:c]", ["db-a", "db-b", "db-c"]),
        ("n[0:6:3]", ["n0", "n3", "n6"]),
        ("r[1:2]-[a:b]", ["r1-a", "r1-b", "r2-a", "r2-b"]),
        ("[:2]x", ["0x", "1x", "2x"]),
        ("plain", ["plain"]),
    ],
)
def test_host_ranges_expand_like_ansible(pattern: str, expected: list[str]) -> None:
    assert expand_host_range(pattern) == expected


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("w[01:100]", "same number of digits"),
        ("w[1]", r"\[begin:end\]"),
        ("w[1:]", "end is missing"),
        ("w[c:a]", "begin must not come after end"),
        ("w[1:3:0]", "step must be a positive number"),
        ("w[a:3]", "numbers"),
        ("w[1:3", r"\[begin:end\]"),
    ],
)
def test_bad_host_ranges_are_errors(pattern: str, why: str) -> None:
    with pytest.raises(InventoryError, match=why):
        expand_host_range(pattern, Location("inv.ini", 4))


# -- INI format ------------------------------------------------------------------------------


def test_ini_groups_children_and_ungrouped(staging: Inventory) -> None:
    web = ["web01.staging.example.com", "web02.staging.example.com", "canary01"]
    assert staging.groups_map() == {
        "all": ["bastion", *web, "db1"],
        "ungrouped": ["bastion"],
        "web": web,
        "db": ["db1"],
        "canary": ["canary01"],
        "staging": [*web, "db1"],
    }


def test_ini_values_are_python_literals_as_ansible_reads_them(staging: Inventory) -> None:
    canary = staging.host_vars("canary01")
    assert canary["ansible_port"] == 2222  # from canary01:2222
    assert canary["weight"] == 1.5
    assert canary["enabled"] is True
    assert canary["label"] == "blue green"
    web = staging.host_vars("web01.staging.example.com")
    assert web["http_port"] == 8080
    # ansible-core 2.21 parses [group:vars] values as literals too (its docs say strings).
    assert web["retries"] == 3 and web["debug"] is False and web["motd"] == "hello world"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("42", 42),
        ("True", True),
        ("true", "true"),
        ("'x y'", "x y"),
        ("[1, 'a']", [1, "a"]),
        ("(1, 2)", [1, 2]),
        ("{'k': None}", {"k": None}),
        ("1+2j", "(1+2j)"),
        ("a=b", "a=b"),
    ],
)
def test_ini_value(text: str, value: object) -> None:
    assert ini_value(text) == value


@pytest.mark.parametrize(
    ("body", "message", "line"),
    [
        ("[web:children]\napp\n", "section \\[web:children\\] includes undefined group 'app'", 2),
        ("[web:vars]\na=1\n", "section \\[web:vars\\] is for an undefined group", 1),
        ("[web:hostz]\n", "unknown type 'hostz'", 1),
        ("[web group]\n", "invalid section", 1),
        ("[web]\nw1 port\n", "expected key=value after the host name, got 'port'", 2),
        ("[web]\nw1\n[web:vars]\njust-a-word\n", "expected key=value", 4),
        ("[a]\n[b]\n[a:children]\nb\n[b:children]\na\n", "makes a loop", 6),
        ("all:\n  hosts:\n", "this looks like YAML", 1),
        ("[web]\nw1 x='unclosed\n", "cannot read host line", 2),
        ("[web]\nw[1:2:x]\n", "step must be a positive number", 2),
    ],
)
def test_ini_mistakes_point_at_the_line(tmp_path: Path, body: str, message: str, line: int) -> None:
    path = write(tmp_path / "bad.ini", body)
    with pytest.raises(InventoryError, match=message) as caught:
        Inventory.load(path)
    assert caught.value.location == Location(str(path), line)


def test_ini_comments_and_child_defined_after_use(tmp_path: Path) -> None:
    text = "# fleet\n[prod:children]\nweb  # the web tier\n\n[web]\nw1 a=1 # note\n; also\n"
    inventory = Inventory.load(write(tmp_path / "i.ini", text))
    assert inventory.groups_map()["prod"] == ["w1"]
    assert inventory.host_vars("w1") == {"a": 1}


# -- a directory as the source ------------------------------------------------------------


def test_directory_source_reads_every_inventory_file() -> None:
    inventory = Inventory.load(DATA / "dir_source")
    assert names(inventory.select("all")) == ["web1", "web2", "db1", "sub1"]  # files in name order
    assert inventory.groups_map()["prod"] == ["web1", "web2", "db1"]
    assert inventory.host_vars("web1") == {"dir_all": True, "web_from_dir": True}
    assert inventory.host_vars("sub1") == {"dir_all": True}


def test_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="no inventory files in"):
        Inventory.load(tmp_path)


# -- variables: Ansible's order ------------------------------------------------------------


@pytest.fixture(scope="module")
def precedence() -> Inventory:
    return Inventory.load(DATA / "precedence" / "hosts.yml")


@pytest.mark.parametrize(
    ("variable", "winner"),
    [
        ("depth_order", "dc"),  # all < region < dc: parents before children
        ("priority", "a"),  # same depth: ansible_group_priority 10 beats the default 1
        ("name_order", "d"),  # same depth and priority: c_group, then d_group
        ("files_beat_inventory", "group_vars-all"),  # group_vars/ files beat inventory groups
        ("file_depth_order", "group_vars-dc"),  # group_vars files in group order too
        ("host_beats_group_files", "inventory-host"),  # inventory host vars beat group_vars
        ("host_files_beat_host", "host_vars-h1"),  # host_vars/ files beat inventory host vars
    ],
)
def test_variables_follow_ansibles_documented_order(
    precedence: Inventory, variable: str, winner: str
) -> None:
    assert precedence.host_vars("h1")[variable] == winner


def test_group_priority_is_not_a_variable(precedence: Inventory) -> None:
    assert "ansible_group_priority" not in precedence.host_vars("h1")
    assert precedence.host_vars("h2") == {
        "depth_order": "all",
        "files_beat_inventory": "group_vars-all",
        "file_depth_order": "group_vars-all",
    }


def test_var_layers_lowest_first_inventory_dir_then_playbook_dir(prod: Inventory) -> None:
    levels = [layer["level"] for layer in prod.var_layers(WEB01) if "level" in layer]
    assert levels == [
        "all-inline",
        "web-inline",
        "group_vars-all",
        "playbook-all",
        "group_vars-web",
        "host_vars-web01",
        "playbook-host_vars-web01",
    ]
    assert prod.host_vars(WEB01)["level"] == "playbook-host_vars-web01"


def test_group_vars_files_directories_and_suffixes(prod: Inventory) -> None:
    db = prod.host_vars("db1")
    assert (db["db_a"], db["db_b"], db["shared"]) == (1, 2, "second")  # db/ files in name order
    assert "ignored" not in db  # README.txt in group_vars/db/ is not a vars file
    assert db["level"] == "host_vars-db1" and db["db_role"] == "primary"  # host_vars/db1.json
    canary = prod.host_vars("canary01")
    assert canary["canary_file"] is True  # group_vars/canary, no suffix
    assert canary["level"] == "group_vars-web"  # same depth: canary, then web (name order)
    web = prod.host_vars(WEB02)
    assert web["web_file"] == "playbook-dir" and web["playbook_web"] is True
    # playbook group_vars/all is below the inventory's group_vars/web
    assert web["pb_all_vs_inventory_group"] == "inventory-web"


def test_without_playbook_dir_only_the_inventorys_vars_files_count() -> None:
    inventory = Inventory.load("prod", cwd=PROJECT)
    assert inventory.host_vars(WEB01)["level"] == "host_vars-web01"
    assert "playbook_web" not in inventory.host_vars(WEB01)


def test_vars_file_must_be_a_mapping(tmp_path: Path) -> None:
    write(tmp_path / "group_vars" / "all.yml", "- a\n- b\n")
    with pytest.raises(InventoryError, match="a vars file must be a mapping") as caught:
        Inventory.load(write(tmp_path / "hosts.ini", "w1\n"))
    assert caught.value.location == Location(str(tmp_path / "group_vars" / "all.yml"), 1, 1)


def test_var_layers_are_copies(prod: Inventory) -> None:
    prod.var_layers("db1")[0]["app_path"] = "changed"
    assert prod.host_vars("db1")["app_path"] == "/srv/app"


# -- connection settings -------------------------------------------------------------------


def test_connection_settings_with_short_names(prod: Inventory) -> None:
    assert prod.connection_settings("db1") == ConnectionSettings(
        name="db1", address="10.0.0.5", port=2202, user="postgres"
    )


def test_connection_settings_with_ansible_names(prod: Inventory, staging: Inventory) -> None:
    web = prod.connection_settings(WEB01)
    assert (web.address, web.port, web.user, web.connection) == (WEB01, 2201, "deploy", "ssh")
    assert staging.connection_settings("bastion").address == "192.0.2.10"
    assert staging.connection_settings("canary01").port == 2222


def test_a_later_layer_wins_whatever_the_spelling() -> None:
    layers = [{"user": "group-user", "port": "2200"}, {"ansible_user": "host-user"}]
    settings = connection_settings_from_layers("h", layers)
    assert (settings.user, settings.port) == ("host-user", 2200)
    same_layer = connection_settings_from_layers("h", [{"ansible_user": "a", "user": "b"}])
    assert same_layer.user == "b"


def test_all_connection_variables() -> None:
    layer = {
        "ansible_host": "10.0.0.1",
        "ansible_port": 2222,
        "ansible_user": "deploy",
        "ansible_connection": "paramiko",
        "ansible_ssh_private_key_file": "~/.ssh/deploy",
        "jump": "bastion.example.com",
        "ansible_become": "yes",
        "ansible_become_user": "app",
        "known_hosts": "lab_known_hosts",
        "ansible_ssh_common_args": "-o ProxyJump=gw",
    }
    settings = connection_settings_from_layers("h", [layer])
    assert settings == ConnectionSettings(
        name="h",
        address="10.0.0.1",
        port=2222,
        user="deploy",
        connection="ssh",
        ssh_key="~/.ssh/deploy",
        jump="bastion.example.com",
        become=True,
        become_user="app",
        known_hosts="lab_known_hosts",
        ssh_common_args="-o ProxyJump=gw",
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ({"port": "ssh"}, "port must be a port number"),
        ({"ansible_port": 70000}, "ansible_port must be a port number"),
        ({"become": "maybe"}, "become must be true or false"),
        ({"connection": "docker"}, "connection 'docker' is not supported"),
    ],
)
def test_bad_connection_values(layer: dict[str, object], message: str) -> None:
    with pytest.raises(InventoryError, match=message):
        connection_settings_from_layers("h", [layer])


# -- patterns --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("all", [WEB01, WEB02, "canary01", "db1", "bastion"]),
        ("*", [WEB01, WEB02, "canary01", "db1", "bastion"]),
        ("web", [WEB01, WEB02, "canary01"]),
        ("db1", ["db1"]),
        ("web*", [WEB01, WEB02, "canary01"]),  # the group, by glob
        ("*.prod.example.com", [WEB01, WEB02]),  # hosts, by glob
        ("~(web|db)\\d", [WEB01, WEB02, "db1"]),
        ("db:web", [WEB01, WEB02, "canary01", "db1"]),  # inventory order, not pattern order
        ("db, web", [WEB01, WEB02, "canary01", "db1"]),
        ("web:&canary", ["canary01"]),
        ("web:!canary", [WEB01, WEB02]),
        ("!web", ["db1", "bastion"]),  # only exclusions: from all
        ("&web", [WEB01, WEB02, "canary01"]),
        ("!canary:web:&canary", []),  # unions, then intersections, then exclusions
        ("all:!web:&db", ["db1"]),
        (["web", "db"], [WEB01, WEB02, "canary01", "db1"]),
        ("web[0]", [WEB01]),
        ("web[-1]", ["canary01"]),
        ("web[1:]", [WEB02, "canary01"]),
        ("empty", []),
        ("ungrouped", ["bastion"]),
        ("nothing*", []),
        ("localhost", ["localhost"]),
    ],
)
def test_patterns(prod: Inventory, pattern: str | list[str], expected: list[str]) -> None:
    assert names(prod.select(pattern)) == expected


@pytest.mark.parametrize(
    ("pattern", "limit", "expected"),
    [
        ("all", "web", [WEB01, WEB02, "canary01"]),
        ("web", "canary*", ["canary01"]),
        ("web", "all:!canary01", [WEB01, WEB02]),
        ("web", "db", []),
        ("db:web", "db1,web01*", [WEB01, "db1"]),
        ("localhost", "web", []),  # as ansible-playbook: --limit may leave a play with no host
        ("all", None, [WEB01, WEB02, "canary01", "db1", "bastion"]),
    ],
)
def test_limit_narrows(
    prod: Inventory, pattern: str, limit: str | None, expected: list[str]
) -> None:
    assert names(prod.select(pattern, limit)) == expected


def test_unknown_name_in_a_pattern_is_a_bad_pattern(prod: Inventory) -> None:
    where = Location("release.yml", 3, 10)
    with pytest.raises(InventoryError) as caught:
        prod.check_pattern("webz", where)
    assert str(caught.value) == (
        "release.yml:3:10: host pattern 'webz' matches no host or group (did you mean 'web'?)"
    )
    with pytest.raises(InventoryError, match="host pattern 'web:!qqq': 'qqq' matches no host or"):
        prod.check_pattern("web:!qqq")
    with pytest.raises(
        InventoryError, match=r"\(the inventory has groups web, db, empty, canary\)"
    ):
        prod.check_pattern("zzzzzz")


@pytest.mark.parametrize(
    "pattern", ["all", "web:&db", "nothing*", "~zz", "localhost", "db1", "web[0]"]
)
def test_globs_and_known_names_pass_the_check(prod: Inventory, pattern: str) -> None:
    prod.check_pattern(pattern)


def test_bad_regex_and_missing_index(prod: Inventory) -> None:
    with pytest.raises(InventoryError, match=r"invalid host pattern '~web\('"):
        prod.select("~web(")
    with pytest.raises(InventoryError, match="no host at index 9"):
        prod.select("web[9]")


@pytest.mark.parametrize(
    ("pattern", "terms"),
    [
        ("a:b:&c:!d", ["a", "b", "&c", "!d"]),
        ("a, b ,c", ["a", "b", "c"]),
        ("web[01:03]:db", ["web[01:03]", "db"]),
        (["a:b", "c"], ["a", "b", "c"]),
        ("", []),
    ],
)
def test_split_host_pattern(pattern: str | list[str], terms: list[str]) -> None:
    assert split_host_pattern(pattern) == terms


def test_get_host_unknown_suggests(prod: Inventory) -> None:
    assert prod.get_host("db1") is prod.hosts["db1"]
    with pytest.raises(InventoryError, match=r"unknown host 'db2' \(did you mean 'db1'"):
        prod.get_host("db2")


def test_bare_name_falls_back_to_a_file_in_the_working_directory(tmp_path: Path) -> None:
    write(tmp_path / "hosts", "[web]\nw1\n")
    assert list(Inventory.load("hosts", cwd=tmp_path).hosts) == ["w1"]


def test_yaml_host_with_port_and_range() -> None:
    inventory = Inventory.from_mapping({"web": {"hosts": {"w[1:2]:2222": {"x": 1}}}})
    assert inventory.host_vars("w2") == {"ansible_port": 2222, "x": 1}
    assert inventory.connection_settings("w1").port == 2222


def test_relative_playbook_dir_is_relative_to_cwd_and_empty_mapping() -> None:
    inventory = Inventory.load("local", playbook_dir=Path("playbooks"), cwd=PROJECT)
    assert list(inventory.hosts) == ["pb-host"]
    assert inventory.host_vars("pb-host")["level"] == "playbook-all"  # playbooks/group_vars/all.yml
    assert Inventory.from_mapping({}).select("all") == []
