"""Shared by the release modules (push, rollback, tag, promotion_check): versions and shell steps.

A deploy root looks like Capistrano's:

    <path>/releases/<version>/      one directory a release, `.deployplay-release` inside
    <path>/shared/                   paths linked into every release (logs, .env)
    <path>/current -> releases/<v>   switched atomically: new symlink, then `mv -T`
    <path>/.deployplay/              history.jsonl (the ledger) and the lock

A release comes from the controller as a git ref, a directory or a tarball;
each gives a version, a content id (a commit, or a sha256 of the content)
that says whether a release on a host is the same, and a tar stream sent
through `ctx.run(stdin=...)` into `tar -x` on the host.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import shlex
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from deployplay.errors import HostError

if TYPE_CHECKING:
    from deployplay.modules.base import ModuleContext
    from deployplay.runner.results import CommandResult

MARKER_FILE = ".deployplay-release"
VERSION_CHARS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_SEMVER = re.compile(
    r"^(?P<major>\d+)(?:\.(?P<minor>\d+))?(?:\.(?P<patch>\d+))?"
    r"(?:-(?P<pre>[0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$"
)


def q(value: str) -> str:
    return shlex.quote(value)


def normalize_version(version: str) -> str:
    """`v1.2.3` and `1.2.3` name the same release: the directory is `1.2.3`."""
    version = str(version).strip()
    if len(version) > 1 and version[0] in "vV" and version[1].isdigit():
        return version[1:]
    return version


def valid_version(version: str) -> bool:
    """Release names become directory names and shell words: keep them plain."""
    return bool(VERSION_CHARS.match(version)) and version not in (".", "..")


def is_semver(version: str) -> bool:
    return bool(_SEMVER.match(normalize_version(version)))


def version_key(version: str) -> tuple[Any, ...]:
    """Sort key in semantic version order; a pre-release sorts before its release.

    Names that are not versions sort before every version, by name.
    """
    match = _SEMVER.match(normalize_version(version))
    if not match:
        return (0, version)
    core = tuple(int(match.group(g) or 0) for g in ("major", "minor", "patch"))
    pre = match.group("pre")
    if pre is None:
        return (1, core, (1,))
    # Numeric identifiers sort before alphanumeric ones, as semver.org says.
    ids = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (1, core, (0, ids))


def same_version(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and normalize_version(a) == normalize_version(b)


def release_dir(root: str, version: str) -> str:
    return posixpath.join(root, "releases", version)


def switch_script(root: str, version: str, run_id: str) -> str:
    """Point `<root>/current` at the release atomically: a new symlink renamed over the old."""
    tmp = posixpath.join(root, f".current.{run_id}")
    target = release_dir(root, version)
    return (
        f"ln -sfn {q(target)} {q(tmp)} && mv -T {q(tmp)} {q(posixpath.join(root, 'current'))}"
        f" || {{ rm -f {q(tmp)}; echo 'deployplay: switching current failed' >&2; exit 1; }}"
    )


def in_dir_script(directory: str, command: str, step: str) -> str:
    """Run a user command in a directory, in a subshell, naming the step if it fails."""
    return (
        f"( cd {q(directory)} && {command} ) "
        f"|| {{ rc=$?; echo 'deployplay: {step} failed with exit code '$rc >&2; exit $rc; }}"
    )


def commands(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def prune_candidates(releases: list[str], keep: int, protected: set[str | None]) -> list[str]:
    """The releases to delete so that `keep` remain (more if the protected ones need it).

    The protected releases (current, previous, newest verified) are always
    kept; the rest of the room goes to the newest releases by version.
    """
    kept = [r for r in releases if r in protected]
    others = sorted((r for r in releases if r not in protected), key=version_key, reverse=True)
    room = max(keep - len(kept), 0)
    return sorted(others[room:], key=version_key)


def parse_marker(text: str) -> dict[str, Any]:
    """The JSON inside a release's marker file; {} if it is missing or unreadable."""
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# --- release sources on the controller ----------------------------------------
# Nothing a release needs, and .git can be large.
_SKIP_DIRS = {".git", "__pycache__", ".pytest_cache"}
_TAR_FLAGS = {b"\x1f\x8b": "z", b"BZh": "j", b"\xfd7zXZ": "J"}


class SourceError(HostError):
    """The release source on the controller cannot be read (unknown ref, missing directory)."""


@dataclass(frozen=True, slots=True)
class ReleaseSource:
    """A release ready to send: what it is, what identifies its content, and how to stream it."""

    kind: str  # git, dir, tarball
    location: str
    version: str | None
    content_id: str
    commit: str | None = None
    tar_flag: str = ""  # z, j or J for a compressed tarball
    tree: str | None = None  # the git tree to archive (a commit's, or a subdirectory's)

    @contextmanager
    def stream(self) -> Iterator[IO[bytes]]:
        """An open binary stream of the release as a tar archive."""
        if self.kind == "git":
            with _git_archive(self.location, self.tree or "HEAD") as stream:
                yield stream
        elif self.kind == "dir":
            with _dir_tar(Path(self.location)) as stream:
                yield stream
        else:
            with open(self.location, "rb") as stream:
                yield stream


def from_git(repo_path: Path, ref: str, subdir: str | None = None) -> ReleaseSource:
    """Resolve `ref` (and a subdirectory of it) in the repository.

    The version is the ref when it is a version tag, else the VERSION file's.
    The content id is the tree's id: the same files are the same release.
    """
    import git

    try:
        repo = git.Repo(repo_path, search_parent_directories=True)
        commit = repo.commit(ref)
        tree = commit.tree / subdir.strip("/") if subdir else commit.tree
    except (git.exc.GitError, git.exc.ODBError, ValueError, OSError) as exc:
        raise SourceError(f"cannot resolve git ref {ref!r} in {repo_path}: {exc}") from None
    except KeyError:
        raise SourceError(f"{ref} has no directory {subdir!r} in {repo_path}") from None
    version: str | None = None
    tag = ref.removeprefix("refs/tags/")
    if tag in {t.name for t in repo.tags} and is_semver(tag):
        version = normalize_version(tag)
    else:
        try:
            version = (tree / "VERSION").data_stream.read().decode().strip() or None
        except KeyError:
            version = None
    return ReleaseSource(
        kind="git",
        location=str(repo.working_tree_dir),
        version=version,
        content_id=f"git-tree:{tree.hexsha}",
        commit=commit.hexsha,
        tree=tree.hexsha,
    )


def from_path(path: Path) -> ReleaseSource:
    """A directory (version from its VERSION file) or a tarball (version must be given)."""
    if path.is_dir():
        version_file = path / "VERSION"
        version = version_file.read_text().strip() if version_file.is_file() else None
        return ReleaseSource("dir", str(path), version or None, "sha256:" + dir_digest(path))
    if path.is_file():
        with open(path, "rb") as handle:
            head = handle.read(6)
        flag = next((f for magic, f in _TAR_FLAGS.items() if head.startswith(magic)), "")
        return ReleaseSource("tarball", str(path), None, "sha256:" + file_digest(path), None, flag)
    raise SourceError(f"release source {path} does not exist (give a directory or a tarball)")


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        base = Path(dirpath)
        for name in sorted(filenames + [d for d in dirnames if (base / d).is_symlink()]):
            yield base / name


def dir_digest(root: Path) -> str:
    """A digest of names, modes and contents, so an unchanged directory is recognised."""
    digest = hashlib.sha256()
    for path in _walk(root):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            digest.update(f"L {rel} {os.readlink(path)}\0".encode())
            continue
        digest.update(f"F {rel} {path.stat().st_mode & 0o777:o}\0".encode())
        digest.update(file_digest(path).encode())
    return digest.hexdigest()


@contextmanager
def _dir_tar(root: Path) -> Iterator[IO[bytes]]:
    # Spooled: small releases stay in memory, big ones go to a temporary file.
    with tempfile.SpooledTemporaryFile(max_size=32 << 20) as buffer:
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path in _walk(root):
                tar.add(path, arcname=path.relative_to(root).as_posix(), recursive=False)
        buffer.seek(0)
        yield buffer  # type: ignore[misc]


@contextmanager
def _git_archive(repo: str, tree: str) -> Iterator[IO[bytes]]:
    proc = subprocess.Popen(
        ["git", "-C", repo, "archive", "--format=tar", tree],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        yield proc.stdout
    finally:
        proc.stdout.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    if proc.returncode is not None and proc.returncode > 0:
        # A negative code is SIGPIPE: the host stopped reading, and its error says why.
        err = proc.stderr.read().decode("utf-8", "replace").strip() if proc.stderr else ""
        raise SourceError(f"git archive {tree[:12]} failed: {err}")


def host_runner(ctx: ModuleContext) -> Callable[[str], CommandResult]:
    """Run a command on the task's host even from a controller module.

    The executor hands controller modules (smoke, monitor) the local
    connection as `ctx.connection`; the ledger and the logs live on the host.
    """
    if ctx.connection_for is None:
        return ctx.run
    connection = ctx.connection_for(ctx.host)

    def run(command: str) -> CommandResult:
        return connection.run(
            command,
            env=ctx.environment or None,
            timeout=ctx.timeout,
            become=ctx.become,
            become_user=ctx.become_user,
        )

    return run
