"""The module registry: discovery and its order, origins, lookups, argument checks."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ConfigDict, Field

from deployplay.errors import Location, ModuleError
from deployplay.modules import registry as registry_module
from deployplay.modules.base import Module, ModuleArgs
from deployplay.modules.registry import BUILTINS, ModuleRegistry
from deployplay.runner.loader import load_yaml_text


class Command(Module):
    """Stand-in for the real command module."""

    name = "command"
    free_form = "cmd"

    class Args(ModuleArgs):
        cmd: str
        chdir: str | None = None
        creates: str | None = None


class Push(Module):
    """Stand-in with the argument shapes of the real push module."""

    name = "push"

    class Args(ModuleArgs):
        path: str
        version: str
        keep_releases: int = Field(5, ge=1)
        shared: list[str] = []
        src: str | None = Field(None, alias="source")


class SetFact(Module):
    """Stand-in: any key is a fact, plus one real argument."""

    name = "set_fact"

    class Args(ModuleArgs):
        model_config = ConfigDict(extra="allow")
        cacheable: bool = False


@pytest.fixture
def registry() -> ModuleRegistry:
    return ModuleRegistry.from_classes([Command, Push, SetFact])


def yaml_args(text: str) -> Any:
    """Arguments as the loader gives them: a mapping that knows where its keys are."""
    return load_yaml_text(text, "release.yml")


# -- lookups --------------------------------------------------------------------


def test_from_classes(registry: ModuleRegistry) -> None:
    assert registry.names() == ["command", "push", "set_fact"]
    assert "push" in registry and "pull" not in registry
    assert registry.get("push") is Push
    assert registry.origin("push") == "test"


def test_from_a_mapping_of_names() -> None:
    registry = ModuleRegistry.from_classes({"run": Command}, origin="mine")
    assert registry.get("run") is Command
    assert registry.origin("run") == "mine"


def test_unknown_module_suggests_the_closest(registry: ModuleRegistry) -> None:
    with pytest.raises(ModuleError) as caught:
        registry.get("comand", Location("release.yml", 3, 7))
    assert str(caught.value) == "release.yml:3:7: unknown module 'comand' (did you mean 'command'?)"


def test_unknown_module_without_a_close_name(registry: ModuleRegistry) -> None:
    with pytest.raises(ModuleError) as caught:
        registry.get("zzzzzz")
    assert caught.value.hint == "`deployplay modules` lists them"
    with pytest.raises(ModuleError, match="unknown module"):
        registry.origin("zzzzzz")


# -- validate_args ----------------------------------------------------------------


def test_valid_arguments_pass(registry: ModuleRegistry) -> None:
    registry.validate_args("push", {"path": "/srv/app", "version": "1.2.3", "keep_releases": 3})


def test_unknown_argument_points_at_the_key_and_suggests(registry: ModuleRegistry) -> None:
    args = yaml_args("path: /srv/app\nversion: 1.2.3\nkeep_release: 3\n")
    with pytest.raises(ModuleError) as caught:
        registry.validate_args("push", args, Location("release.yml", 1, 1))
    assert str(caught.value) == (
        "release.yml:3:1: unknown argument 'keep_release' (did you mean 'keep_releases'?)"
    )


def test_unknown_argument_without_a_close_name_lists_the_arguments(
    registry: ModuleRegistry,
) -> None:
    with pytest.raises(ModuleError) as caught:
        registry.validate_args("command", {"cmd": "ls", "zzz": 1}, Location("r.yml", 9))
    assert caught.value.location == Location("r.yml", 9)
    assert caught.value.hint == "'command' takes: chdir, cmd, creates"


def test_aliases_and_field_names_are_both_accepted(registry: ModuleRegistry) -> None:
    registry.validate_args("push", {"path": "/a", "version": "1", "source": "build/"})
    registry.validate_args("push", {"path": "/a", "version": "1", "src": "build/"})


def test_missing_required_argument(registry: ModuleRegistry) -> None:
    with pytest.raises(ModuleError) as caught:
        registry.validate_args("push", {"path": "/a"}, Location("r.yml", 4, 7))
    assert str(caught.value) == "r.yml:4:7: missing required argument 'version' of module 'push'"


def test_templated_values_wait_for_run_time(registry: ModuleRegistry) -> None:
    registry.validate_args(
        "push",
        {
            "path": "{{ app_root }}",
            "version": "{% if x %}1{% else %}2{% endif %}",
            "keep_releases": "{{ keep }}",
            "shared": ["{{ a }}", "logs"],
        },
    )


def test_static_values_are_checked_by_the_model(registry: ModuleRegistry) -> None:
    args = yaml_args("path: /a\nversion: '1'\nkeep_releases: five\n")
    with pytest.raises(ModuleError) as caught:
        registry.validate_args("push", args)
    message = str(caught.value)
    assert message.startswith("release.yml:3:1: argument 'keep_releases': Input should be")
    assert "(got 'five')" in message
    assert "\n" not in message


def test_field_constraints_are_checked_too(registry: ModuleRegistry) -> None:
    with pytest.raises(ModuleError, match=r"argument 'keep_releases': .*greater than or equal"):
        registry.validate_args("push", {"path": "/a", "version": "1", "keep_releases": 0})


def test_static_values_are_checked_next_to_templated_ones(registry: ModuleRegistry) -> None:
    with pytest.raises(ModuleError, match=r"argument 'shared'"):
        registry.validate_args("push", {"path": "{{ p }}", "version": "1", "shared": "logs"})


def test_modules_that_allow_extra_arguments(registry: ModuleRegistry) -> None:
    registry.validate_args("set_fact", {"release": "1.2", "anything": [1, 2]})
    with pytest.raises(ModuleError, match="argument 'cacheable'"):
        registry.validate_args("set_fact", {"release": "1.2", "cacheable": "maybe"})


# -- parse_args -----------------------------------------------------------------


def test_parse_args_gives_the_model(registry: ModuleRegistry) -> None:
    parsed = registry.parse_args(Push, {"path": "/a", "version": "1", "source": "b/"})
    assert isinstance(parsed, Push.Args)
    assert (parsed.path, parsed.src, parsed.keep_releases) == ("/a", "b/", 5)


def test_parse_args_refusal_is_one_line(registry: ModuleRegistry) -> None:
    with pytest.raises(ModuleError) as caught:
        registry.parse_args(Push, {"keep_releases": "x"}, Location("r.yml", 5, 3))
    message = str(caught.value)
    assert message.startswith("r.yml:5:3: ")
    assert "(and 2 more)" in message
    assert "\n" not in message


def test_parse_args_unknown_argument_suggests(registry: ModuleRegistry) -> None:
    with pytest.raises(ModuleError) as caught:
        registry.parse_args(Command, {"cmd": "ls", "chdri": "/tmp"}, Location("r.yml", 2))
    assert str(caught.value) == "r.yml:2: unknown argument 'chdri' (did you mean 'chdir'?)"


def test_parse_args_missing_argument(registry: ModuleRegistry) -> None:
    with pytest.raises(ModuleError, match="missing required argument 'cmd'"):
        registry.parse_args(Command, {})


# -- discovery --------------------------------------------------------------------


def test_discover_knows_every_built_in_without_importing_them(tmp_path: Path) -> None:
    registry = ModuleRegistry.discover(tmp_path, module_path="", entry_points=False)
    assert set(BUILTINS) <= set(registry.names())
    assert registry.origin("push") == "built-in"
    assert {"command", "shell", "assert", "lock", "promotion_check"} <= set(BUILTINS)
    assert BUILTINS["assert"] == "deployplay.modules.assert_:Assert"


def test_a_built_in_that_cannot_be_imported_is_an_error_at_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(BUILTINS, "ghost", "deployplay.modules.no_such_file:Ghost")
    monkeypatch.setitem(BUILTINS, "notamodule", "deployplay.errors:Location")
    registry = ModuleRegistry.discover(tmp_path, module_path="", entry_points=False)
    assert "ghost" in registry
    with pytest.raises(ModuleError) as caught:
        registry.get("ghost", Location("p.yml", 2, 3))
    assert str(caught.value).startswith(
        "p.yml:2:3: module 'ghost' (built-in) cannot be loaded: ModuleNotFoundError"
    )
    with pytest.raises(ModuleError, match="is not a deployplay Module class"):
        registry.get("notamodule")


MODULE_FILE = '''\
from __future__ import annotations

from deployplay.modules.base import Module, ModuleArgs, ModuleResult
from deployplay.modules.base import Module as Imported  # not defined here: not registered


class Base(Module):
    """A helper base without a name: not a module."""


class Greet(Base):
    """Say hello."""

    name = "{name}"

    class Args(ModuleArgs):
        who: str = "world"

    def run(self, ctx, args: Args) -> ModuleResult:
        return ModuleResult(msg=f"hello {{args.who}}")
'''


def write_module(directory: Path, name: str, filename: str | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (filename or f"{name}.py")
    path.write_text(MODULE_FILE.format(name=name))
    return path


def test_modules_beside_the_playbook(tmp_path: Path) -> None:
    path = write_module(tmp_path / "modules", "greet")
    (tmp_path / "modules" / "_private.py").write_text("raise RuntimeError('not read')\n")
    registry = ModuleRegistry.discover(tmp_path, module_path="", entry_points=False)
    assert registry.origin("greet") == str(path)
    greet = registry.get("greet")
    assert greet.__name__ == "Greet"
    assert registry.parse_args(greet, {}).who == "world"  # annotations resolve in the file
    registry.validate_args("greet", {"who": "you"})
    with pytest.raises(ModuleError, match="did you mean 'who'"):
        registry.validate_args("greet", {"woh": "you"})
    assert "Base" not in registry.names()


def test_module_path_directories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = write_module(tmp_path / "one", "hello_one")
    second = write_module(tmp_path / "two", "hello_two")
    monkeypatch.setenv("DEPLOYPLAY_MODULE_PATH", f"{first.parent}{os.pathsep}{second.parent}")
    registry = ModuleRegistry.discover(None, entry_points=False)
    assert registry.origin("hello_one") == str(first)
    assert registry.origin("hello_two") == str(second)


def test_module_path_that_is_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ModuleError, match=r"DEPLOYPLAY_MODULE_PATH names .* not a directory"):
        ModuleRegistry.discover(None, module_path=str(tmp_path / "nope"), entry_points=False)


def test_the_same_directory_twice_is_read_once(tmp_path: Path) -> None:
    write_module(tmp_path / "modules", "greet")
    registry = ModuleRegistry.discover(
        tmp_path, module_path=str(tmp_path / "modules"), entry_points=False
    )
    assert "greet" in registry


def test_a_name_defined_twice_names_both_sources(tmp_path: Path) -> None:
    first = write_module(tmp_path / "modules", "greet")
    second = write_module(tmp_path / "more", "greet", "other.py")
    with pytest.raises(ModuleError) as caught:
        ModuleRegistry.discover(tmp_path, module_path=str(second.parent), entry_points=False)
    assert str(caught.value).startswith(f"module 'greet' is defined twice: {first} and {second}")


def test_a_local_module_may_not_shadow_a_built_in(tmp_path: Path) -> None:
    path = write_module(tmp_path / "modules", "command", "mycommand.py")
    with pytest.raises(ModuleError, match=f"'command' is defined twice: built-in and {path}"):
        ModuleRegistry.discover(tmp_path, module_path="", entry_points=False)


def test_a_module_file_with_a_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "modules" / "broken.py"
    path.parent.mkdir()
    path.write_text("x = 1\ndef oops(:\n")
    with pytest.raises(ModuleError) as caught:
        ModuleRegistry.discover(tmp_path, module_path="", entry_points=False)
    assert str(caught.value).startswith(f"{path}:2: cannot import module file: SyntaxError")


def test_a_module_file_that_raises_on_import(tmp_path: Path) -> None:
    path = tmp_path / "modules" / "raises.py"
    path.parent.mkdir()
    path.write_text("import os\n\nraise RuntimeError('no config')\n")
    with pytest.raises(ModuleError) as caught:
        ModuleRegistry.discover(tmp_path, module_path="", entry_points=False)
    assert str(caught.value) == (f"{path}:3: cannot import module file: RuntimeError: no config")


class FakeEntryPoint:
    """An entry point as importlib.metadata gives it, counting its loads."""

    def __init__(self, name: str, target: Any, dist: str) -> None:
        self.name, self.value, self.target = name, f"acme.{name}:Cls", target
        self.dist = SimpleNamespace(name=dist)
        self.loads = 0

    def load(self) -> Any:
        self.loads += 1
        return self.target


def test_entry_points_are_loaded_when_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = FakeEntryPoint("acme_push", Push, "acme-deploy-modules")
    seen_groups: list[str] = []

    def entry_points(*, group: str) -> list[FakeEntryPoint]:
        seen_groups.append(group)
        return [entry]

    monkeypatch.setattr(registry_module.importlib.metadata, "entry_points", entry_points)
    registry = ModuleRegistry.discover(tmp_path, module_path="")
    assert seen_groups == ["deployplay.modules"]
    assert registry.origin("acme_push") == "entry point acme-deploy-modules"
    assert entry.loads == 0
    assert registry.get("acme_push") is Push
    assert registry.get("acme_push") is Push
    assert entry.loads == 1


def test_an_entry_point_that_fails_to_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = FakeEntryPoint("acme_push", Push, "acme-deploy-modules")
    entry.load = lambda: (_ for _ in ()).throw(ImportError("no module named acme"))  # type: ignore[method-assign]
    monkeypatch.setattr(
        registry_module.importlib.metadata, "entry_points", lambda *, group: [entry]
    )
    registry = ModuleRegistry.discover(tmp_path, module_path="")
    with pytest.raises(ModuleError, match=r"entry point acme-deploy-modules.*ImportError"):
        registry.get("acme_push")


def test_an_entry_point_may_not_shadow_a_built_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = FakeEntryPoint("push", Push, "acme-deploy-modules")
    monkeypatch.setattr(
        registry_module.importlib.metadata, "entry_points", lambda *, group: [entry]
    )
    with pytest.raises(ModuleError) as caught:
        ModuleRegistry.discover(tmp_path, module_path="")
    assert str(caught.value).startswith(
        "module 'push' is defined twice: built-in and entry point acme-deploy-modules"
    )


def test_a_validator_that_needs_a_templated_sibling_waits_for_run_time() -> None:
    from pydantic import field_validator

    class Window(Module):
        name = "window"

        class Args(ModuleArgs):
            start: int
            end: int

            @field_validator("end")
            @classmethod
            def after_start(cls, value: int, info: Any) -> int:
                if value < info.data["start"]:  # KeyError when start is left out
                    raise ValueError("end must not be before start")
                return value

    registry = ModuleRegistry.from_classes([Window])
    registry.validate_args("window", {"start": "{{ s }}", "end": 3})
    with pytest.raises(ModuleError, match="argument 'end': Value error, end must not be before"):
        registry.validate_args("window", {"start": 5, "end": 3})


# -- suggestions ------------------------------------------------------------------


def test_did_you_mean() -> None:
    from deployplay.suggest import closest, did_you_mean

    assert did_you_mean("notfy", ["notify", "name", "when"]) == "did you mean 'notify'?"
    assert closest("Notify", ["notify"]) == "notify"
    assert closest("KEEP_RELEASE", ["keep_releases", "path"]) == "keep_releases"
    assert did_you_mean("zzzz", ["notify", "name"]) is None
    assert did_you_mean("x", []) is None
