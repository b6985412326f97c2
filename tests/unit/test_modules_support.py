"""Helpers the module tests share (imported by the other test_modules_* files), and
tests of deployplay/modules/_shell.py: quoting, modes, the remote stat script."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from deployplay.modules._shell import (
    attribute_commands,
    glob_exists_test,
    parse_mode,
    parse_stat,
    quote_expanding,
    sha1,
    stat_script,
)
from deployplay.modules.base import Module, ModuleContext, ModuleResult
from deployplay.runner.connections.base import Connection
from deployplay.runner.connections.local import LocalConnection
from deployplay.runner.context import RunState
from deployplay.runner.templating import Templar


def make_ctx(
    tmp_path: Path,
    *,
    connection: Connection | None = None,
    variables: dict[str, Any] | None = None,
    check: bool = False,
    diff: bool = False,
    verbosity: int = 0,
) -> ModuleContext:
    """A ModuleContext for one task on a local 'host' whose playbook lives in tmp_path."""
    variables = {"inventory_hostname": "localhost", **(variables or {})}
    return ModuleContext(
        host="localhost",
        vars=variables,
        connection=connection or LocalConnection(),
        check_mode=check,
        diff_mode=diff,
        run_state=RunState(),
        templar=Templar(variables, searchpath=[tmp_path]),
        inventory=None,  # type: ignore[arg-type]  # no module here reads it
        playbook_dir=tmp_path,
        verbosity=verbosity,
    )


def run_module(module: type[Module], ctx: ModuleContext, **args: Any) -> ModuleResult:
    """Validate args through the module's model, as the registry does, then run it."""
    return module().run(ctx, module.Args.model_validate(args))


def sh(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, check=False)


# --- modes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "current", "is_dir", "expected"),
    [
        ("0644", None, False, 0o644),
        ("755", 0o600, True, 0o755),
        (0o640, 0o600, False, 0o640),
        ("u=rw,g=r,o=r", 0o777, False, 0o644),
        ("u+x", 0o644, False, 0o744),
        ("go-w", 0o666, False, 0o644),
        ("a+X", 0o644, True, 0o755),
        ("a+X", 0o644, False, 0o644),
        ("g=u", 0o700, False, 0o770),
        ("u+x", None, False, None),
        (None, 0o644, False, None),
    ],
)
def test_parse_mode(mode: Any, current: int | None, is_dir: bool, expected: int | None) -> None:
    assert parse_mode(mode, current, is_dir) == expected


def test_parse_mode_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="bad mode 'rwx'"):
        parse_mode("rwx", 0o644, False)


def test_attribute_commands_only_for_what_differs(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_text("x")
    target.chmod(0o600)
    stat = parse_stat(sh(stat_script(str(target))).stdout)
    same, before, after = attribute_commands(str(target), stat, mode="0600", owner=None, group=None)
    assert (same, before, after) == ([], {}, {})
    owner = stat.owner or ""
    commands, before, after = attribute_commands(
        str(target), stat, mode="0640", owner=owner, group=None
    )
    assert commands == [f"chmod -- 0640 {target}"]
    assert (before, after) == ({"mode": "0600"}, {"mode": "0640"})


# --- the stat script ---------------------------------------------------------------------


def test_stat_script_describes_a_file(tmp_path: Path) -> None:
    target = tmp_path / "it's a file.txt"
    target.write_bytes(b"hello\n")
    target.chmod(0o640)
    stat = parse_stat(sh(stat_script(str(target), checksum=True)).stdout)
    assert stat.type == "file"
    assert stat.path == str(target)
    assert stat.mode == 0o640
    assert stat.size == 6
    assert stat.uid == os.getuid()
    assert stat.checksum == hashlib.sha1(b"hello\n").hexdigest() == sha1(b"hello\n")


def test_stat_script_describes_links_directories_and_absence(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "link").symlink_to("dir")
    link = parse_stat(sh(stat_script(str(tmp_path / "link"))).stdout)
    assert (link.type, link.target) == ("link", "dir")
    followed = parse_stat(sh(stat_script(str(tmp_path / "link"), follow=True)).stdout)
    assert followed.type == "directory"
    gone = parse_stat(sh(stat_script(str(tmp_path / "nope" / "x"))).stdout)
    assert (gone.exists, gone.parent_exists) == (False, False)


def test_stat_script_into_dir_looks_inside_a_directory(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    stat = parse_stat(sh(stat_script(str(tmp_path / "etc"), into_dir="app.conf")).stdout)
    assert stat.path == f"{tmp_path}/etc/app.conf"
    assert stat.type == "absent"
    assert stat.parent_exists


# --- quoting -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("$HOME/x y", "/home/test/x y"),
        ("${HOME}|tee", "/home/test|tee"),
        ("a;b `c` $(d)", "a;b `c` $(d)"),
        ("~", "/home/test"),
        ("~/logs", "/home/test/logs"),
        ("it's", "it's"),
        ("", ""),
    ],
)
def test_quote_expanding_expands_only_tilde_and_variables(arg: str, expected: str) -> None:
    result = subprocess.run(
        ["/bin/sh", "-c", f"printf %s {quote_expanding(arg)}"],
        capture_output=True,
        text=True,
        env={"HOME": "/home/test", "PATH": os.environ["PATH"]},
        check=True,
    )
    assert result.stdout == expected


def test_glob_exists_test_matches_globs_but_quotes_the_rest(tmp_path: Path) -> None:
    (tmp_path / "a b.log").write_text("")
    assert sh(f"{glob_exists_test(str(tmp_path / 'a b.*'))} && echo yes").stdout == "yes\n"
    assert sh(f"{glob_exists_test(str(tmp_path / '*.txt'))} || echo no").stdout == "no\n"
    assert sh(f"{glob_exists_test(str(tmp_path / 'a b.log'))} && echo yes").stdout == "yes\n"
