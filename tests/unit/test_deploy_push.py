"""push against a deploy root in tmp_path over a LocalConnection: from a directory and a git ref."""

from __future__ import annotations

import json
import os
from pathlib import Path

from test_deploy_support import commit_files, make_ctx, make_repo, run_module

from deployplay.modules.push import Push
from deployplay.runner.connections.local import LocalConnection
from deployplay.runner.context import RunState
from deployplay.runner.ledger import Ledger


class CountingConnection(LocalConnection):
    def __init__(self) -> None:
        super().__init__("web1")
        self.commands: list[str] = []

    def run(self, command: str, **kwargs):  # type: ignore[override]
        self.commands.append(command)
        return super().run(command, **kwargs)


def make_src(path: Path, version: str, text: str = "hello") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "VERSION").write_text(version + "\n")
    (path / "app.txt").write_text(text)
    return path


def tree(root: Path) -> dict[str, str]:
    """Everything under root: files with their content, links with their target."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                found[rel] = "-> " + os.readlink(path)
            elif path.is_file():
                found[rel] = path.read_text()
    return found


def current(root: Path) -> str:
    return Path(os.readlink(root / "current")).name


def test_push_directory_then_rerun_is_ok(tmp_path: Path) -> None:
    root, src = tmp_path / "srv", make_src(tmp_path / "src", "1.0.0")
    conn = CountingConnection()
    state = RunState()
    ctx = make_ctx(tmp_path, connection=conn, run_state=state)
    result = run_module(Push, ctx, path=str(root), src=str(src))
    assert result.changed and not result.failed, result.msg
    assert current(root) == "1.0.0"
    assert (root / "releases" / "1.0.0" / "app.txt").read_text() == "hello"
    assert len(conn.commands) == 2  # look, then upload + switch in one script
    marker = json.loads((root / "releases" / "1.0.0" / ".deployplay-release").read_text())
    assert marker["content_id"].startswith("sha256:") and marker["source"] == "dir"
    events = Ledger(conn, str(root)).events()
    assert [(e["event"], e["version"]) for e in events] == [("deploy", "1.0.0")]
    assert events[0]["run_id"] == state.run_id
    assert state.host("web1")[("switched", str(root))] == {"from": None, "to": "1.0.0"}

    conn.commands.clear()
    again = run_module(Push, make_ctx(tmp_path, connection=conn), path=str(root), src=str(src))
    assert not again.changed and not again.failed
    assert "already current" in again.msg
    assert len(conn.commands) == 1
    assert len(Ledger(conn, str(root)).events()) == 1


def test_push_git_ref_streams_git_archive(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"VERSION": "1.0.0\n", "bin/run": "#!/bin/sh\n"}, "v1.0.0")
    root = tmp_path / "srv"
    commit_files(repo, {"VERSION": "1.1.0\n", "new.txt": "new"}, "second")
    repo.create_tag("v1.1.0", message="Release v1.1.0")
    ctx = make_ctx(tmp_path / "repo")
    first = run_module(Push, ctx, path=str(root), git_ref="v1.0.0")
    assert first.changed, first.msg
    assert first.data["commit"] == repo.commit("v1.0.0").hexsha
    assert not (root / "releases" / "1.0.0" / "new.txt").exists()
    second = run_module(Push, ctx, path=str(root), git_ref="v1.1.0")
    assert second.changed and "was 1.0.0" in second.msg
    assert (root / "releases" / "1.1.0" / "new.txt").read_text() == "new"
    assert current(root) == "1.1.0"
    rerun = run_module(Push, make_ctx(tmp_path / "repo"), path=str(root), git_ref="v1.1.0")
    assert not rerun.changed and not rerun.failed
    deploy = Ledger(LocalConnection(), str(root)).read().last("deploy")
    assert deploy and deploy["commit"] == repo.commit("v1.1.0").hexsha and deploy["from"] == "1.0.0"


def test_unknown_git_ref_fails_clearly(tmp_path: Path) -> None:
    make_repo(tmp_path / "repo")
    result = run_module(Push, make_ctx(tmp_path / "repo"), path=str(tmp_path / "srv"), git_ref="v9")
    assert result.failed and "cannot resolve git ref 'v9'" in result.msg


def test_keep_releases_never_prunes_current_previous_or_newest_verified(tmp_path: Path) -> None:
    root = tmp_path / "srv"
    for version in ("1.0.0", "1.1.0", "1.2.0", "1.3.0"):
        src = make_src(tmp_path / f"src-{version}", version, version)
        result = run_module(Push, make_ctx(tmp_path), path=str(root), src=str(src), keep_releases=2)
        assert result.changed, result.msg
        if version == "1.0.0":
            Ledger(LocalConnection(), str(root)).append("verified", version="1.0.0")
    assert sorted(os.listdir(root / "releases")) == ["1.0.0", "1.2.0", "1.3.0"]
    assert current(root) == "1.3.0"
    last = Ledger(LocalConnection(), str(root)).read().last("deploy")
    assert last and last["version"] == "1.3.0"


def test_bad_release_needs_force(tmp_path: Path) -> None:
    root = tmp_path / "srv"
    v1, v2 = make_src(tmp_path / "a", "1.0.0"), make_src(tmp_path / "b", "1.1.0", "two")
    run_module(Push, make_ctx(tmp_path), path=str(root), src=str(v1))
    run_module(Push, make_ctx(tmp_path), path=str(root), src=str(v2))
    run_module(Push, make_ctx(tmp_path), path=str(root), src=str(v1))  # back, by hand
    Ledger(LocalConnection(), str(root)).append("bad", version="1.1.0")
    refused = run_module(Push, make_ctx(tmp_path), path=str(root), src=str(v2))
    assert refused.failed and "marked bad" in refused.msg and "force: true" in refused.msg
    assert current(root) == "1.0.0"
    forced = run_module(Push, make_ctx(tmp_path), path=str(root), src=str(v2), force=True)
    assert forced.changed and not forced.failed, forced.msg
    assert current(root) == "1.1.0"
    assert Ledger(LocalConnection(), str(root)).bad() == set()


def test_same_version_with_other_content_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "srv"
    run_module(Push, make_ctx(tmp_path), path=str(root), src=str(make_src(tmp_path / "a", "1.0.0")))
    changed = make_src(tmp_path / "b", "1.0.0", "different")
    result = run_module(Push, make_ctx(tmp_path), path=str(root), src=str(changed))
    assert result.failed and "bump the version" in result.msg
    assert (root / "releases" / "1.0.0" / "app.txt").read_text() == "hello"


def test_check_mode_changes_nothing_and_diff_shows_the_link(tmp_path: Path) -> None:
    root = tmp_path / "srv"
    run_module(Push, make_ctx(tmp_path), path=str(root), src=str(make_src(tmp_path / "a", "1.0.0")))
    before = tree(root)
    ctx = make_ctx(tmp_path, check=True, diff=True)
    src = make_src(tmp_path / "b", "1.1.0")
    result = run_module(Push, ctx, path=str(root), src=str(src))
    assert result.changed and result.msg.startswith("would replace release 1.0.0 with 1.1.0")
    assert result.diff and result.diff[0]["after"].strip().endswith("releases/1.1.0")
    assert result.diff[0]["before"].strip().endswith("releases/1.0.0")
    assert tree(root) == before
    assert ctx.run_state.host("web1") == {}


def test_shared_paths_build_and_restart(tmp_path: Path) -> None:
    root, src = tmp_path / "srv", make_src(tmp_path / "src", "1.0.0")
    (src / "logs").mkdir()
    (src / "logs" / "seed.log").write_text("seeded")
    result = run_module(
        Push,
        make_ctx(tmp_path),
        path=str(root),
        src=str(src),
        shared=["logs", ".env"],
        build="echo built > build.out",
        before_switch=["test -f build.out", "test ! -e ../../current || true"],
        restart="pwd -P > ../../restarted",
    )
    assert result.changed, result.msg
    release = root / "releases" / "1.0.0"
    assert os.readlink(release / "logs") == str(root / "shared" / "logs")
    assert (root / "shared" / "logs" / "seed.log").read_text() == "seeded"
    assert (root / "shared" / ".env").is_file() and (release / ".env").is_symlink()
    assert (release / "build.out").read_text() == "built\n"
    assert (root / "restarted").read_text().strip() == str(release)


def test_failed_build_leaves_no_release_and_current_untouched(tmp_path: Path) -> None:
    root = tmp_path / "srv"
    run_module(Push, make_ctx(tmp_path), path=str(root), src=str(make_src(tmp_path / "a", "1.0.0")))
    state = RunState()
    result = run_module(
        Push,
        make_ctx(tmp_path, run_state=state),
        path=str(root),
        src=str(make_src(tmp_path / "b", "1.1.0")),
        build="echo compiling; echo boom >&2; exit 3",
    )
    assert result.failed and "build failed" in result.msg and "boom" in result.msg
    assert current(root) == "1.0.0"
    assert sorted(os.listdir(root / "releases")) == ["1.0.0"]
    assert state.host("web1") == {}


def test_failed_restart_is_recorded_and_remembered_for_rollback(tmp_path: Path) -> None:
    root = tmp_path / "srv"
    run_module(Push, make_ctx(tmp_path), path=str(root), src=str(make_src(tmp_path / "a", "1.0.0")))
    state = RunState()
    result = run_module(
        Push,
        make_ctx(tmp_path, run_state=state),
        path=str(root),
        src=str(make_src(tmp_path / "b", "1.1.0")),
        restart="exit 7",
    )
    assert result.failed and result.changed and "restart failed" in result.msg
    assert current(root) == "1.1.0"
    assert state.host("web1")[("switched", str(root))] == {"from": "1.0.0", "to": "1.1.0"}
    events = [e["event"] for e in Ledger(LocalConnection(), str(root)).events()]
    assert events == ["deploy", "deploy", "failed"]


def test_tarball_source(tmp_path: Path) -> None:
    import tarfile

    src = make_src(tmp_path / "src", "2.0.0")
    archive = tmp_path / "release.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src / "app.txt", arcname="app.txt")
    root = tmp_path / "srv"
    result = run_module(
        Push, make_ctx(tmp_path), path=str(root), src=str(archive), version="v2.0.0"
    )
    assert result.changed, result.msg
    assert (root / "releases" / "2.0.0" / "app.txt").read_text() == "hello"
    missing = run_module(Push, make_ctx(tmp_path), path=str(root), src=str(archive))
    assert missing.failed and "set version" in missing.msg


def test_git_subdir_and_branch_take_the_version_file(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"svc/VERSION": "3.1.0\n", "svc/app.txt": "svc", "x": "x"})
    root = tmp_path / "srv"
    ctx = make_ctx(tmp_path / "repo")
    result = run_module(Push, ctx, path=str(root), git_ref="main", subdir="svc")
    assert result.changed, result.msg
    assert sorted(os.listdir(root / "releases" / "3.1.0")) == [
        ".deployplay-release",
        "VERSION",
        "app.txt",
    ]
    # A commit outside the subdirectory leaves the release's content, and so the release, as is.
    commit_files(repo, {"x": "changed"}, "elsewhere")
    again = run_module(
        Push, make_ctx(tmp_path / "repo"), path=str(root), git_ref="main", subdir="svc"
    )
    assert not again.changed and not again.failed, again.msg
    missing = run_module(Push, ctx, path=str(root), git_ref="main", subdir="nope")
    assert missing.failed and "no directory 'nope'" in missing.msg
