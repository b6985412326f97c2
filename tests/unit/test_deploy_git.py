"""git_check and tag on temporary repositories (with a bare origin in tmp_path)."""

from __future__ import annotations

from pathlib import Path

import git
from test_deploy_support import commit_files, make_ctx, make_repo, run_module

from deployplay.modules.git_check import GitCheck
from deployplay.modules.tag import Tag


def repo_with_origin(tmp_path: Path) -> tuple[git.Repo, git.Repo]:
    """A working repository tracking a bare origin, in sync."""
    origin = git.Repo.init(tmp_path / "origin.git", bare=True, initial_branch="main")
    work = make_repo(tmp_path / "work")
    work.create_remote("origin", str(tmp_path / "origin.git"))
    work.git.push("-u", "origin", "main")
    return work, origin


def test_clean_in_sync_repository_passes(tmp_path: Path) -> None:
    repo_with_origin(tmp_path)
    result = run_module(GitCheck, make_ctx(tmp_path / "work"), branch="main")
    assert not result.failed, result.msg
    assert "in sync with origin/main" in result.msg
    assert result.data["ahead"] == 0 and result.data["behind"] == 0


def test_dirty_tree_names_the_files(tmp_path: Path) -> None:
    work, _ = repo_with_origin(tmp_path)
    top = Path(work.working_tree_dir or "")
    (top / "app.txt").write_text("changed\n")
    (top / "staged.txt").write_text("new\n")
    work.index.add(["staged.txt"])
    (top / "scratch.txt").write_text("?\n")
    result = run_module(GitCheck, make_ctx(top), branch="main")
    assert result.failed
    assert "app.txt (modified)" in result.msg and "staged.txt (staged)" in result.msg
    assert "scratch.txt (untracked)" in result.msg
    allowed = run_module(GitCheck, make_ctx(top), branch="main", allow_untracked=True)
    assert allowed.failed and "scratch.txt" not in allowed.msg


def test_wrong_branch(tmp_path: Path) -> None:
    work, _ = repo_with_origin(tmp_path)
    work.git.checkout("-b", "feature")
    result = run_module(GitCheck, make_ctx(tmp_path / "work"), branch="main", fetch=False)
    assert result.failed and "on branch feature, expected main" in result.msg


def test_behind_and_ahead_of_origin_after_a_fetch(tmp_path: Path) -> None:
    work, _ = repo_with_origin(tmp_path)
    other = git.Repo.clone_from(str(tmp_path / "origin.git"), tmp_path / "other")
    with other.config_writer() as config:
        config.set_value("user", "name", "Other")
        config.set_value("user", "email", "o@example.com")
    commit_files(other, {"a.txt": "a"}, "theirs 1")
    commit_files(other, {"b.txt": "b"}, "theirs 2")
    other.git.push("origin", "main")
    # Without a fetch the remote-tracking branch is stale: the check cannot see the new commits.
    no_fetch = run_module(GitCheck, make_ctx(tmp_path / "work"), fetch=False)
    assert not no_fetch.failed, no_fetch.msg
    behind = run_module(GitCheck, make_ctx(tmp_path / "work"), branch="main")
    assert behind.failed and "main is 2 commits behind origin/main" in behind.msg
    work.git.pull("--ff-only")
    commit_files(work, {"mine.txt": "m"}, "mine")
    ahead = run_module(GitCheck, make_ctx(tmp_path / "work"), branch="main")
    assert ahead.failed and "main is 1 commit ahead of origin/main" in ahead.msg


def test_not_a_repository(tmp_path: Path) -> None:
    result = run_module(GitCheck, make_ctx(tmp_path), repo=str(tmp_path))
    assert result.failed and "not in a git repository" in result.msg


def test_tag_created_at_head_then_ok(tmp_path: Path) -> None:
    work, origin = repo_with_origin(tmp_path)
    work.create_tag("v1.0.0", message="Release v1.0.0")
    head = commit_files(work, {"VERSION": "1.1.0\n"}, "bump")
    result = run_module(Tag, make_ctx(tmp_path / "work"), push=True)
    assert result.changed and not result.failed, result.msg
    assert "created tag v1.1.0" in result.msg and "pushed v1.1.0 to origin" in result.msg
    tag = work.tags["v1.1.0"]
    assert tag.commit.hexsha == head and tag.tag is not None  # annotated
    assert origin.tags["v1.1.0"].commit.hexsha == head
    again = run_module(Tag, make_ctx(tmp_path / "work"), push=True)
    assert not again.changed and not again.failed and "already at HEAD" in again.msg


def test_tag_not_bumped_in_semantic_order(tmp_path: Path) -> None:
    work = make_repo(tmp_path / "work", {"VERSION": "1.9.5\n"})
    work.create_tag("v1.10.0", message="x")
    commit_files(work, {"other": "x"}, "more")
    result = run_module(Tag, make_ctx(tmp_path / "work"))
    assert result.failed and "version not bumped: 1.9.5" in result.msg
    assert "newest release tag v1.10.0" in result.msg
    ok = run_module(Tag, make_ctx(tmp_path / "work"), version="1.10.1")
    assert ok.changed and "v1.10.1" in work.tags


def test_tag_pointing_elsewhere_fails(tmp_path: Path) -> None:
    work = make_repo(tmp_path / "work", {"VERSION": "1.0.0\n"}, tag="v1.0.0")
    commit_files(work, {"other": "x"}, "more")
    result = run_module(Tag, make_ctx(tmp_path / "work"))
    assert result.failed and "v1.0.0 already points at" in result.msg


def test_tag_check_mode_and_version_sources(tmp_path: Path) -> None:
    work = make_repo(
        tmp_path / "work",
        {"pyproject.toml": '[project]\nname = "x"\nversion = "0.3.0"\n', "package.json": "{}"},
    )
    result = run_module(Tag, make_ctx(tmp_path / "work", check=True))
    assert result.changed and result.msg.startswith("would create tag v0.3.0")
    assert not work.tags
    no_remote = run_module(Tag, make_ctx(tmp_path / "work"), push=True)
    assert no_remote.failed and "cannot reach remote origin" in no_remote.msg
    pkg = make_repo(tmp_path / "pkg", {"package.json": '{"version": "2.1.0"}'})
    assert run_module(Tag, make_ctx(tmp_path / "pkg"), version_file="package.json").changed
    assert "v2.1.0" in pkg.tags
    none = make_repo(tmp_path / "none", {"README": "x"})
    missing = run_module(Tag, make_ctx(tmp_path / "none"))
    assert missing.failed and "no version" in missing.msg and none.tags == []
