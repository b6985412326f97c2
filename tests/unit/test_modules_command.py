"""command and shell against a LocalConnection, and their scripts against a FakeConnection."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from test_modules_support import make_ctx, run_module

from deployplay.modules.command import CHECK_MSG, NONZERO_MSG, Command
from deployplay.modules.shell import Shell
from deployplay.runner.connections.fake import FakeConnection


def test_command_runs_without_a_shell(tmp_path: Path) -> None:
    result = run_module(Command, make_ctx(tmp_path), cmd="echo a | b > c; $(rm -rf x)")
    assert result.changed and not result.failed
    assert result.data["stdout"] == "a | b > c; $(rm -rf x)"
    assert result.data["cmd"] == ["echo", "a", "|", "b", ">", "c;", "$(rm", "-rf", "x)"]
    assert result.data["rc"] == 0
    assert not (tmp_path / "c").exists()


def test_command_argv_and_registered_fields(tmp_path: Path) -> None:
    result = run_module(Command, make_ctx(tmp_path), argv=["printf", "%s\n", "one two", "x"])
    assert result.data["stdout"] == "one two\nx"
    assert result.data["stdout_lines"] == ["one two", "x"]
    assert result.data["stderr_lines"] == []
    for key in ("start", "end", "delta"):
        assert isinstance(result.data[key], str) and result.data[key]
    assert result.data["delta"].startswith("0:00:")


def test_command_non_zero_exit_fails_with_output(tmp_path: Path) -> None:
    script = "echo out; echo err >&2; exit 3"
    result = run_module(Command, make_ctx(tmp_path), argv=["sh", "-c", script])
    assert result.failed
    assert result.msg == NONZERO_MSG
    assert (result.data["rc"], result.data["stdout"], result.data["stderr"]) == (3, "out", "err")


def test_command_chdir_and_stdin(tmp_path: Path) -> None:
    result = run_module(Command, make_ctx(tmp_path), cmd="pwd", chdir=str(tmp_path))
    assert result.data["stdout"] == str(tmp_path)
    fed = run_module(Command, make_ctx(tmp_path), cmd="cat", stdin="hello")
    assert fed.data["stdout"] == "hello"
    missing = run_module(Command, make_ctx(tmp_path), cmd="pwd", chdir=str(tmp_path / "nope"))
    assert missing.failed
    assert missing.msg.startswith("Unable to change directory before execution.")
    assert "__deployplay" not in missing.data["stderr"]


def test_command_creates_and_removes_make_it_idempotent(tmp_path: Path) -> None:
    marker = tmp_path / "done"
    ctx = make_ctx(tmp_path)
    first = run_module(Command, ctx, cmd=f"touch {marker}", creates=str(marker))
    assert first.changed and marker.exists()
    second = run_module(Command, ctx, cmd=f"touch {marker}", creates=str(tmp_path / "d*"))
    assert not second.changed and not second.failed
    assert second.msg == f"Did not run command since '{tmp_path / 'd*'}' exists"
    assert second.data["stdout"] == f"skipped, since {tmp_path / 'd*'} exists"
    removed = run_module(Command, ctx, cmd=f"rm {marker}", removes=str(marker))
    assert removed.changed and not marker.exists()
    again = run_module(Command, ctx, cmd=f"rm {marker}", removes=str(marker))
    assert not again.changed and "does not exist" in again.msg


def test_creates_is_relative_to_chdir(tmp_path: Path) -> None:
    (tmp_path / "built").write_text("")
    result = run_module(
        Command, make_ctx(tmp_path), cmd="false", chdir=str(tmp_path), creates="built"
    )
    assert not result.changed and not result.failed


def test_check_mode_skips_unless_creates_decides(tmp_path: Path) -> None:
    target = tmp_path / "x"
    ctx = make_ctx(tmp_path, check=True)
    plain = run_module(Command, ctx, cmd=f"touch {target}")
    assert plain.skipped and plain.msg == CHECK_MSG
    would = run_module(Command, ctx, cmd=f"touch {target}", creates=str(target))
    assert would.changed and would.msg == CHECK_MSG
    assert not target.exists()
    target.write_text("")
    wouldnt = run_module(Command, ctx, cmd="false", creates=str(target))
    assert not wouldnt.changed and wouldnt.msg.startswith("Would not run command")


def test_command_args_need_exactly_one_command() -> None:
    with pytest.raises(ValidationError, match="exactly one of cmd"):
        Command.Args.model_validate({"chdir": "/tmp"})
    with pytest.raises(ValidationError, match="extra"):
        Command.Args.model_validate({"cmd": "ls", "chdri": "/tmp"})


def test_command_sends_one_quoted_script(tmp_path: Path) -> None:
    fake = FakeConnection("web1")
    run_module(
        Command,
        make_ctx(tmp_path, connection=fake),
        argv=["echo", "it's; rm -rf /"],
        creates="/srv/a b",
        chdir="/srv",
    )
    (script,) = fake.commands()
    assert "exec echo 'it'\"'\"'s; rm -rf /'" in script
    assert "cd -- /srv ||" in script
    assert "'/srv/a b'" in script


def test_shell_uses_the_shell(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    result = run_module(
        Shell, ctx, cmd="echo a b | tr a-z A-Z > out && cat out", chdir=str(tmp_path)
    )
    assert result.data["stdout"] == "A B"
    assert result.data["cmd"] == "echo a b | tr a-z A-Z > out && cat out"
    assert (tmp_path / "out").read_text() == "A B\n"


def test_shell_failure_and_executable(tmp_path: Path) -> None:
    failed = run_module(Shell, make_ctx(tmp_path), cmd="echo nope >&2; exit 7")
    assert failed.failed and failed.data["rc"] == 7 and failed.data["stderr"] == "nope"
    bash = run_module(
        Shell, make_ctx(tmp_path), cmd="echo ${BASH_VERSION:+bash}", executable="/bin/bash"
    )
    assert bash.data["stdout"] == "bash"


def test_shell_environment_comes_from_the_task(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    ctx.environment = {"RELEASE": "v1.2.3"}
    assert run_module(Shell, ctx, cmd='echo "$RELEASE"').data["stdout"] == "v1.2.3"
