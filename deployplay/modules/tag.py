"""tag: create (and push) the annotated release tag `v<version>` at HEAD."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field

from deployplay.modules._release import is_semver, normalize_version, version_key
from deployplay.modules.base import Module, ModuleArgs, ModuleContext, ModuleResult

if TYPE_CHECKING:
    from git import Repo


class Tag(Module):
    """Tag HEAD as release `v<version>` on the controller, and push the tag if asked.

    The version comes from `version`, else from `version_file`, else from a
    VERSION file, pyproject.toml or package.json at the top of the repository.
    It must be greater (semantic version order) than the newest `v*` tag, or
    the task fails with "version not bumped". A tag already at HEAD is `ok`;
    a tag of that name on another commit is a failure.

        - tag: {push: true}
          delegate_to: localhost
          run_once: true
    """

    name = "tag"
    supports_check_mode = True
    runs_on = "controller"

    class Args(ModuleArgs):
        version: str | None = Field(None, description="default: read from the repository")
        version_file: str | None = Field(None, description="VERSION, pyproject.toml, package.json")
        repo: str | None = Field(None, description="default: the playbook's repository")
        push: bool = Field(False, description="push the tag to `remote`")
        remote: str = "origin"
        message: str | None = Field(None, description="default: 'Release v<version>'")

    def run(self, ctx: ModuleContext, args: Args) -> ModuleResult:
        import git

        path = Path(args.repo) if args.repo else ctx.playbook_dir
        path = path if path.is_absolute() else ctx.playbook_dir / path
        try:
            repo = git.Repo(path, search_parent_directories=True)
            version, source = _read_version(Path(repo.working_tree_dir or path), args)
        except (git.exc.InvalidGitRepositoryError, git.exc.NoSuchPathError):
            return ModuleResult(failed=True, msg=f"{path} is not in a git repository")
        except ValueError as exc:
            return ModuleResult(failed=True, msg=str(exc))
        if not is_semver(version):
            return ModuleResult(failed=True, msg=f"version {version!r} ({source}) is not x.y.z")
        name = f"v{version}"
        head = repo.head.commit.hexsha
        data = {"version": version, "tag": name, "commit": head, "version_source": source}
        existing = _tag_commit(repo, name)
        if existing is not None and existing != head:
            return ModuleResult(
                failed=True,
                msg=f"tag {name} already points at {existing[:12]}, not HEAD {head[:12]}: "
                "bump the version",
                data=data,
            )
        actions: list[tuple[str, str]] = []  # (what it would do, what it did)
        if existing is None:
            newest = newest_release_tag(repo)
            if newest is not None and version_key(version) <= version_key(newest):
                return ModuleResult(
                    failed=True,
                    msg=f"version not bumped: {version} ({source}) is not greater than "
                    f"the newest release tag {newest}",
                    data=data,
                )
            actions.append((f"create tag {name} at {head[:12]}", f"created tag {name}"))
            if not ctx.check_mode:
                message = args.message or f"Release {name}"
                try:
                    repo.create_tag(name, ref=head, message=message)
                except git.exc.GitCommandError as exc:
                    return ModuleResult(failed=True, msg=f"git tag {name} failed: {exc.stderr}")
        if args.push:
            problem = _push(repo, args.remote, name, head, ctx.check_mode, actions)
            if problem:
                return ModuleResult(failed=True, changed=bool(actions), msg=problem, data=data)
        if not actions:
            return ModuleResult(msg=f"tag {name} already at HEAD", data=data)
        if ctx.check_mode:
            msg = "would " + " and ".join(plan for plan, _ in actions)
        else:
            msg = " and ".join(done for _, done in actions) + f" at {head[:12]}"
        return ModuleResult(changed=True, msg=msg, data=data)


def _read_version(top: Path, args: Tag.Args) -> tuple[str, str]:
    """(version, where it came from); ValueError when no source gives one."""
    if args.version:
        return normalize_version(args.version), "argument"
    candidates = (
        [Path(args.version_file)]
        if args.version_file
        else [
            Path("VERSION"),
            Path("pyproject.toml"),
            Path("package.json"),
        ]
    )
    for candidate in candidates:
        path = candidate if candidate.is_absolute() else top / candidate
        if not path.is_file():
            if args.version_file:
                raise ValueError(f"version file {path} does not exist")
            continue
        version = _version_in(path)
        if version:
            return normalize_version(version), path.name
    raise ValueError(
        f"no version: give version:, or put one in VERSION, pyproject.toml or package.json in {top}"
    )


def _version_in(path: Path) -> str | None:
    text = path.read_text()
    if path.name == "pyproject.toml":
        data = tomllib.loads(text)
        project = data.get("project", {})
        poetry = data.get("tool", {}).get("poetry", {})
        return project.get("version") or poetry.get("version")
    if path.suffix == ".json":
        value = json.loads(text).get("version")
        return str(value) if value else None
    return text.strip() or None


def _tag_commit(repo: Repo, name: str) -> str | None:
    for tag in repo.tags:
        if tag.name == name:
            return tag.commit.hexsha
    return None


def newest_release_tag(repo: Repo) -> str | None:
    """The greatest `v*` tag in semantic version order (tags that are not versions ignored)."""
    names = [t.name for t in repo.tags if t.name.startswith("v") and is_semver(t.name)]
    return max(names, key=version_key) if names else None


def _push(
    repo: Repo, remote: str, name: str, head: str, check: bool, actions: list[tuple[str, str]]
) -> str | None:
    """Push the tag unless the remote has it already; a failure message, or None."""
    import git

    try:
        listed = repo.git.ls_remote("--tags", remote, f"refs/tags/{name}^{{}}", f"refs/tags/{name}")
    except git.exc.GitCommandError as exc:
        return f"cannot reach remote {remote}: {' '.join(str(exc.stderr).split())}"
    remote_commits = {line.split()[0] for line in listed.splitlines() if line.strip()}
    if remote_commits:
        # An annotated tag lists the tag object and, with ^{}, the commit it points at.
        if head in remote_commits:
            return None
        return f"tag {name} on {remote} points at another commit than HEAD {head[:12]}"
    actions.append((f"push {name} to {remote}", f"pushed {name} to {remote}"))
    if check:
        return None
    try:
        repo.git.push(remote, f"refs/tags/{name}")
    except git.exc.GitCommandError as exc:
        return f"git push {remote} {name} failed: {' '.join(str(exc.stderr).split())}"
    return None
