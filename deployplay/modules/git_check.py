"""git_check: refuse to release from a dirty, misplaced or out-of-date working tree."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field

from deployplay.modules.base import Module, ModuleArgs, ModuleContext, ModuleResult

if TYPE_CHECKING:
    from git import Repo


class GitCheck(Module):
    """Check the controller's git working tree before a release: clean, right branch, in sync.

    Fails when files are staged or modified (untracked ones too unless
    `allow_untracked`), when HEAD is not on `branch`, or when the branch is
    ahead of or behind its upstream after a fetch; the message names the
    files and the commit counts. Reads only (a fetch updates remote refs).

        - git_check: {branch: main}
          delegate_to: localhost
          run_once: true
    """

    name = "git_check"
    supports_check_mode = True
    read_only = True
    runs_on = "controller"

    class Args(ModuleArgs):
        repo: str | None = Field(None, description="the repository; default: the playbook's")
        branch: str | None = Field(None, description="the branch HEAD must be on")
        allow_untracked: bool = False
        fetch: bool = Field(True, description="fetch the upstream before comparing")
        remote: str | None = Field(None, description="default: the branch's upstream remote")

    def run(self, ctx: ModuleContext, args: Args) -> ModuleResult:
        import git

        path = Path(args.repo) if args.repo else ctx.playbook_dir
        if not path.is_absolute():
            path = ctx.playbook_dir / path
        try:
            repo = git.Repo(path, search_parent_directories=True)
        except (git.exc.InvalidGitRepositoryError, git.exc.NoSuchPathError):
            return ModuleResult(failed=True, msg=f"{path} is not in a git repository")
        problems: list[str] = []
        data: dict = {"repo": repo.working_tree_dir}
        dirty = _dirty_files(repo, args.allow_untracked)
        data["dirty"] = dirty
        if dirty:
            problems.append(f"working tree not clean: {_listing(dirty)}")
        branch = _branch(repo)
        data["branch"] = branch
        if branch is None:
            problems.append("HEAD is detached (not on a branch)")
        elif args.branch and branch != args.branch:
            problems.append(f"on branch {branch}, expected {args.branch}")
        if branch is not None:
            problems += _sync_problems(repo, branch, args, data)
        if problems:
            return ModuleResult(failed=True, msg="; ".join(problems), data=data)
        where = f" with {data['upstream']}" if data.get("upstream") else ""
        return ModuleResult(msg=f"clean, on {branch}, in sync{where}", data=data)


def _dirty_files(repo: Repo, allow_untracked: bool) -> list[str]:
    """`git status --porcelain` lines: XY path; `??` marks untracked files."""
    args = ["--porcelain", "--untracked-files=" + ("no" if allow_untracked else "all")]
    files = []
    for line in repo.git.status(*args).splitlines():
        if len(line) > 3:
            state, name = line[:2], line[3:]
            label = {"??": "untracked"}.get(state) or (
                "staged" if state[0] != " " and state[1] == " " else "modified"
            )
            files.append(f"{name} ({label})")
    return files


def _branch(repo: Repo) -> str | None:
    try:
        return repo.active_branch.name
    except TypeError:  # detached HEAD
        return None


def _sync_problems(repo: Repo, branch: str, args: GitCheck.Args, data: dict) -> list[str]:
    """Fetch the upstream and count the commits on either side."""
    import git

    head = repo.heads[branch]
    tracking = head.tracking_branch()
    remote_name = args.remote or (tracking.remote_name if tracking else None)
    if remote_name is None:
        if not repo.remotes:
            return []  # a repository without remotes has nothing to be out of sync with
        remote_name = "origin" if "origin" in [r.name for r in repo.remotes] else None
        if remote_name is None:
            return [f"branch {branch} has no upstream; set one or give remote:"]
    upstream = tracking.name if tracking and not args.remote else f"{remote_name}/{branch}"
    data["upstream"] = upstream
    if args.fetch:
        try:
            repo.remote(remote_name).fetch()
        except (git.exc.GitCommandError, ValueError) as exc:
            return [f"git fetch {remote_name} failed: {_short(exc)}"]
    try:
        counts = repo.git.rev_list("--left-right", "--count", f"HEAD...{upstream}")
    except git.exc.GitCommandError:
        return [f"{upstream} does not exist (push the branch first)"]
    ahead, behind = (int(n) for n in counts.split())
    data.update(ahead=ahead, behind=behind)
    problems = []
    if ahead:
        problems.append(f"{branch} is {ahead} commit{'s' * (ahead > 1)} ahead of {upstream}")
    if behind:
        problems.append(f"{branch} is {behind} commit{'s' * (behind > 1)} behind {upstream}")
    return problems


def _listing(files: list[str], shown: int = 10) -> str:
    text = ", ".join(files[:shown])
    return text + (f" and {len(files) - shown} more" if len(files) > shown else "")


def _short(exc: Exception) -> str:
    text = getattr(exc, "stderr", "") or str(exc)
    return " ".join(str(text).split())[:300]
