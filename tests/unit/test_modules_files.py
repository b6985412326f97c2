"""copy, template and file against a LocalConnection in tmp_path: idempotence, check, diff."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError
from test_modules_support import make_ctx, run_module

from deployplay.errors import TemplateError
from deployplay.modules._shell import sha1
from deployplay.modules.copy import Copy
from deployplay.modules.file import File
from deployplay.modules.template import Template
from deployplay.runner.connections.fake import FakeConnection


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


# --- copy --------------------------------------------------------------------------------


def test_copy_content_changed_then_ok(tmp_path: Path) -> None:
    dest = tmp_path / "app.env"
    ctx = make_ctx(tmp_path)
    first = run_module(Copy, ctx, content="PORT=8080\n", dest=str(dest), mode="0600")
    assert first.changed and not first.failed
    assert dest.read_text() == "PORT=8080\n"
    assert mode_of(dest) == 0o600
    assert first.data["checksum"] == sha1(b"PORT=8080\n")
    assert first.data["mode"] == "0600" and first.data["size"] == 10
    second = run_module(Copy, ctx, content="PORT=8080\n", dest=str(dest), mode="0600")
    assert not second.changed and not second.failed
    assert [p.name for p in tmp_path.iterdir()] == ["app.env"]  # no temporary files left


def test_copy_src_from_files_dir_into_a_directory(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "motd").write_text("welcome\n")
    target_dir = tmp_path / "etc"
    target_dir.mkdir()
    ctx = make_ctx(tmp_path)
    result = run_module(Copy, ctx, src="motd", dest=str(target_dir))
    assert result.changed and (target_dir / "motd").read_text() == "welcome\n"
    assert result.data["dest"] == f"{target_dir}/motd"
    assert not run_module(Copy, ctx, src="motd", dest=str(target_dir)).changed
    slash = run_module(Copy, ctx, src="motd", dest=f"{tmp_path}/new/")
    assert slash.changed and (tmp_path / "new" / "motd").read_text() == "welcome\n"


def test_copy_only_fixes_the_mode_when_content_matches(tmp_path: Path) -> None:
    dest = tmp_path / "f"
    dest.write_text("same\n")
    dest.chmod(0o644)
    ctx = make_ctx(tmp_path, diff=True)
    result = run_module(Copy, ctx, content="same\n", dest=str(dest), mode="u=rw,go=")
    assert result.changed and mode_of(dest) == 0o600
    assert result.diff == [
        {
            "before": {"path": str(dest), "mode": "0644"},
            "after": {"path": str(dest), "mode": "0600"},
        }
    ]


def test_copy_keeps_the_mode_of_an_existing_file(tmp_path: Path) -> None:
    dest = tmp_path / "run.sh"
    dest.write_text("old\n")
    dest.chmod(0o750)
    run_module(Copy, make_ctx(tmp_path), content="new\n", dest=str(dest))
    assert dest.read_text() == "new\n" and mode_of(dest) == 0o750


def test_copy_check_mode_changes_nothing_and_diff_shows_lines(tmp_path: Path) -> None:
    dest = tmp_path / "conf"
    dest.write_text("a=1\nb=2\n")
    ctx = make_ctx(tmp_path, check=True, diff=True)
    result = run_module(Copy, ctx, content="a=1\nb=3\n", dest=str(dest))
    assert result.changed
    assert dest.read_text() == "a=1\nb=2\n"
    assert result.diff == [
        {
            "before": "a=1\nb=2\n",
            "after": "a=1\nb=3\n",
            "before_header": str(dest),
            "after_header": "dynamically generated",
        }
    ]
    new = run_module(Copy, ctx, content="x\n", dest=str(tmp_path / "new"))
    assert new.changed and not (tmp_path / "new").exists()
    assert new.diff is not None and new.diff[0]["before"] == ""


def test_copy_backup_force_and_validate(tmp_path: Path) -> None:
    dest = tmp_path / "conf"
    dest.write_text("v1\n")
    ctx = make_ctx(tmp_path)
    kept = run_module(Copy, ctx, content="v2\n", dest=str(dest), force=False)
    assert not kept.changed and dest.read_text() == "v1\n"
    backed = run_module(Copy, ctx, content="v2\n", dest=str(dest), backup=True)
    backup = Path(backed.data["backup_file"])
    assert backup.read_text() == "v1\n" and backup.name.startswith("conf.")
    assert backup.name.endswith("~")
    refused = run_module(Copy, ctx, content="v3\n", dest=str(dest), validate="grep -q v4 %s")
    assert refused.failed and refused.msg.startswith("failed to validate")
    assert dest.read_text() == "v2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conf", backup.name]


def test_copy_onto_a_symlink_replaces_it_or_follows_it(tmp_path: Path) -> None:
    real = tmp_path / "sites-available.conf"
    real.write_text("old\n")
    link = tmp_path / "enabled.conf"
    link.symlink_to(real.name)
    ctx = make_ctx(tmp_path)
    followed = run_module(Copy, ctx, content="new\n", dest=str(link), follow=True)
    assert followed.changed and link.is_symlink() and real.read_text() == "new\n"
    assert followed.data["dest"] == str(real)
    assert not run_module(Copy, ctx, content="new\n", dest=str(link), follow=True).changed
    replaced = run_module(Copy, ctx, content="mine\n", dest=str(link))
    assert replaced.changed and not link.is_symlink() and link.read_text() == "mine\n"
    assert real.read_text() == "new\n"
    (tmp_path / "dir").mkdir()
    (tmp_path / "dirlink").symlink_to("dir")
    refused = run_module(Copy, ctx, content="x", dest=str(tmp_path / "dirlink"))
    assert refused.failed and "is a symlink to a directory" in refused.msg


def test_copy_errors_are_clear(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    missing = run_module(Copy, ctx, src="nope.txt", dest=str(tmp_path / "x"))
    assert missing.failed and "Could not find or access 'nope.txt'" in missing.msg
    no_dir = run_module(Copy, ctx, content="x", dest=str(tmp_path / "no" / "x"))
    assert no_dir.failed and no_dir.msg == f"Destination directory {tmp_path / 'no'} does not exist"
    with pytest.raises(ValidationError, match="exactly one of src or content"):
        Copy.Args.model_validate({"dest": "/x"})
    with pytest.raises(ValidationError, match="Extra inputs"):
        Copy.Args.model_validate({"content": "x", "dest": "/x", "mdoe": "0644"})


def test_copy_uses_one_look_one_upload_one_move(tmp_path: Path) -> None:
    fake = FakeConnection("web1")
    fake.on(r"stat -c", stdout="path=/etc/app.conf\ntype=absent\nparent=yes\n")
    result = run_module(
        Copy, make_ctx(tmp_path, connection=fake), content="x", dest="/etc/app.conf"
    )
    assert result.changed
    assert [call.kind for call in fake.calls] == ["run", "put", "run"]
    assert fake.calls[1].target.startswith("/etc/.app.conf.deployplay-")
    assert 'mv -f -- "$tmp" "$p"' in fake.calls[2].target


# --- template ----------------------------------------------------------------------------


def test_template_renders_with_host_vars_and_is_idempotent(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "app.conf.j2").write_text(
        "port={{ port }}\n{% for h in backends %}server {{ h }}\n{% endfor %}"
    )
    ctx = make_ctx(tmp_path, variables={"port": 8080, "backends": ["a", "b"]}, diff=True)
    dest = tmp_path / "app.conf"
    first = run_module(Template, ctx, src="app.conf.j2", dest=str(dest), mode="0640")
    assert first.changed
    assert dest.read_text() == "port=8080\nserver a\nserver b\n"
    assert mode_of(dest) == 0o640
    assert first.diff is not None and first.diff[0]["after"] == dest.read_text()
    assert first.diff[0]["after_header"].endswith("app.conf.j2")
    second = run_module(Template, ctx, src="app.conf.j2", dest=str(dest), mode="0640")
    assert not second.changed and second.diff is None


def test_template_check_mode_and_errors(tmp_path: Path) -> None:
    (tmp_path / "t.j2").write_text("{{ missing_var }}\n")
    ctx = make_ctx(tmp_path, check=True)
    with pytest.raises(TemplateError, match="missing_var"):
        run_module(Template, ctx, src="t.j2", dest=str(tmp_path / "out"))
    absent = run_module(Template, ctx, src="nope.j2", dest=str(tmp_path / "out"))
    assert absent.failed and "nope.j2" in absent.msg
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "ok.j2").write_text("fine\n")
    (tmp_path / "out").mkdir()
    result = run_module(Template, ctx, src="ok.j2", dest=str(tmp_path / "out"))
    assert result.changed and list((tmp_path / "out").iterdir()) == []
    assert result.data["dest"] == f"{tmp_path}/out/ok.j2"


# --- file --------------------------------------------------------------------------------


def test_file_directory_changed_then_ok(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b"
    ctx = make_ctx(tmp_path, diff=True)
    first = run_module(File, ctx, path=str(path), state="directory", mode="0750")
    assert first.changed and path.is_dir() and mode_of(path) == 0o750
    assert first.diff == [
        {
            "before": {"path": str(path), "state": "absent"},
            "after": {"path": str(path), "state": "directory", "mode": "0750"},
        }
    ]
    assert first.data["state"] == "directory" and first.data["mode"] == "0750"
    assert not run_module(File, ctx, path=str(path), state="directory", mode="0750").changed
    chmod = run_module(File, ctx, path=str(path), state="directory", mode="0700")
    assert chmod.changed and mode_of(path) == 0o700


def test_file_link_absent_touch(tmp_path: Path) -> None:
    (tmp_path / "v1").mkdir()
    (tmp_path / "v2").mkdir()
    link = tmp_path / "current"
    ctx = make_ctx(tmp_path)
    made = run_module(File, ctx, src="v1", dest=str(link), state="link")
    assert made.changed and os.readlink(link) == "v1"
    assert not run_module(File, ctx, src="v1", dest=str(link), state="link").changed
    switched = run_module(File, ctx, src="v2", dest=str(link), state="link")
    assert switched.changed and os.readlink(link) == "v2"
    assert not (link / "current").exists() and not (tmp_path / "v2" / "current").exists()
    touched = run_module(File, ctx, path=str(tmp_path / "stamp"), state="touch")
    assert touched.changed and (tmp_path / "stamp").is_file()
    gone = run_module(File, ctx, path=str(tmp_path / "v1"), state="absent")
    assert gone.changed and not (tmp_path / "v1").exists()
    assert not run_module(File, ctx, path=str(tmp_path / "v1"), state="absent").changed


def test_file_refusals(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("x")
    ctx = make_ctx(tmp_path)
    no_file = run_module(File, ctx, path=str(tmp_path / "nope"), state="file")
    assert (
        no_file.failed and no_file.msg == f"file ({tmp_path / 'nope'}) is absent, cannot continue"
    )
    in_the_way = run_module(File, ctx, path=str(tmp_path / "plain"), state="directory")
    assert in_the_way.failed and "already exists as a file" in in_the_way.msg
    link = run_module(File, ctx, src="plain", path=str(tmp_path / "plain"), state="link")
    assert link.failed and "refusing to convert from file to symlink" in link.msg
    dangling = run_module(File, ctx, src="ghost", path=str(tmp_path / "l"), state="link")
    assert dangling.failed and "src file does not exist" in dangling.msg
    forced = run_module(File, ctx, src="ghost", path=str(tmp_path / "l"), state="link", force=True)
    assert forced.changed and os.readlink(tmp_path / "l") == "ghost"


def test_file_check_mode_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    ctx = make_ctx(tmp_path, check=True, diff=True)
    made = run_module(File, ctx, path=str(tmp_path / "new"), state="directory")
    assert made.changed and not (tmp_path / "new").exists()
    removed = run_module(File, ctx, path=str(tmp_path / "d"), state="absent")
    assert removed.changed and (tmp_path / "d").is_dir()
    assert removed.diff == [
        {
            "before": {"path": str(tmp_path / "d"), "state": "directory"},
            "after": {"path": str(tmp_path / "d"), "state": "absent"},
        }
    ]


def test_file_recurse_reports_truthfully(tmp_path: Path) -> None:
    top = tmp_path / "tree"
    (top / "sub").mkdir(parents=True)
    (top / "sub" / "f").write_text("x")
    for path in (top, top / "sub"):
        path.chmod(0o755)
    (top / "sub" / "f").chmod(0o644)
    ctx = make_ctx(tmp_path)
    check = run_module(
        File,
        make_ctx(tmp_path, check=True),
        path=str(top),
        state="directory",
        mode="0755",
        recurse=True,
    )
    assert check.changed and mode_of(top / "sub" / "f") == 0o644  # f would change, not yet
    first = run_module(File, ctx, path=str(top), state="directory", mode="0755", recurse=True)
    assert first.changed and mode_of(top / "sub" / "f") == 0o755
    assert not run_module(
        File, ctx, path=str(top), state="directory", mode="0755", recurse=True
    ).changed
    (top / "sub" / "f").chmod(0o600)
    again = run_module(File, ctx, path=str(top), state="directory", mode="0755", recurse=True)
    assert again.changed and mode_of(top / "sub" / "f") == 0o755


def test_src_is_found_beside_an_included_task_file(tmp_path: Path) -> None:
    from deployplay.errors import Location

    tasks = tmp_path / "tasks"
    (tasks / "files").mkdir(parents=True)
    (tasks / "files" / "motd").write_text("from tasks/files\n")
    ctx = make_ctx(tmp_path)
    ctx.location = Location(str(tasks / "setup.yml"), 3)
    result = run_module(Copy, ctx, src="motd", dest=str(tmp_path / "motd"))
    assert result.changed and (tmp_path / "motd").read_text() == "from tasks/files\n"
    missing = run_module(Copy, ctx, src="nope", dest=str(tmp_path / "x"))
    assert f"{tasks}/files, {tasks}, {tmp_path}/files, {tmp_path}" in missing.msg


def test_touch_and_numeric_owner(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    ctx = make_ctx(tmp_path)
    touched = run_module(File, ctx, path=str(tmp_path / "d"), state="touch")
    assert touched.changed and touched.data["state"] == "directory"
    same = run_module(File, ctx, path=str(tmp_path / "d"), owner=os.getuid(), group=os.getgid())
    assert not same.changed and same.data["state"] == "directory"


def test_file_looks_once_and_acts_once(tmp_path: Path) -> None:
    fake = FakeConnection("web1")
    look = r"stat (-L )?-c"
    fake.on(look, stdout="path=/srv/app\ntype=directory\nmode=700\nuid=0\ngid=0\n", times=1)
    ctx = make_ctx(tmp_path, connection=fake)
    result = run_module(File, ctx, path="/srv/app", state="directory", mode="0755", owner="app")
    assert result.changed
    _look, act = fake.commands()
    assert "chmod -- 0755 /srv/app" in act and "chown -- app /srv/app" in act
    fake.calls.clear()
    fake.on(look, stdout="path=/srv/app\ntype=directory\nmode=755\nowner=app\n")
    assert not run_module(
        File, ctx, path="/srv/app", state="directory", mode="0755", owner="app"
    ).changed
    assert len(fake.commands()) == 1
