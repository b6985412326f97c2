"""Helpers the deployment module tests share (imported by the other test_deploy_* files),
and tests of deployplay/modules/_release.py: versions, pruning, switch scripts."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import git
import pytest

from deployplay.modules._release import (
    normalize_version,
    prune_candidates,
    same_version,
    switch_script,
    valid_version,
    version_key,
)
from deployplay.modules.base import Module, ModuleContext, ModuleResult
from deployplay.runner.connections.base import Connection
from deployplay.runner.connections.local import LocalConnection
from deployplay.runner.context import RunState

HELLO = Path(__file__).resolve().parents[2] / "examples" / "hello-service"

try:
    from deployplay.runner.templating import Templar
except ImportError:  # another engineer's piece; a stand-in keeps these tests independent

    class Templar:  # type: ignore[no-redef]
        def __init__(self, variables: dict[str, Any], **_: Any) -> None:
            self.variables = variables

        def template(self, value: Any) -> Any:
            return value


def make_ctx(
    tmp_path: Path,
    *,
    host: str = "web1",
    run_state: RunState | None = None,
    connection: Connection | None = None,
    check: bool = False,
    diff: bool = False,
    verbosity: int = 0,
    **extra: Any,
) -> ModuleContext:
    """A ModuleContext for one task on a 'host' reached with a LocalConnection."""
    variables = {"inventory_hostname": host}
    return ModuleContext(
        host=host,
        vars=variables,
        connection=connection or LocalConnection(host),
        check_mode=check,
        diff_mode=diff,
        run_state=run_state or RunState(),
        templar=Templar(variables),
        inventory=extra.pop("inventory", None),  # type: ignore[arg-type]
        playbook_dir=tmp_path,
        verbosity=verbosity,
        **extra,
    )


def run_module(module: type[Module], ctx: ModuleContext, **args: Any) -> ModuleResult:
    """Validate args through the module's model, as the registry does, then run it."""
    return module().run(ctx, module.Args.model_validate(args))


def make_repo(path: Path, files: dict[str, str] | None = None, tag: str | None = None) -> git.Repo:
    """A git repository with one commit of `files` (and a tag, if given)."""
    path.mkdir(parents=True, exist_ok=True)
    repo = git.Repo.init(path, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "Test")
        config.set_value("user", "email", "test@example.com")
        config.set_value("commit", "gpgsign", "false")
        config.set_value("tag", "gpgsign", "false")
    commit_files(repo, files or {"VERSION": "1.0.0\n", "app.txt": "one\n"}, "first")
    if tag:
        repo.create_tag(tag, message=f"Release {tag}")
    return repo


def commit_files(repo: git.Repo, files: dict[str, str], message: str) -> str:
    top = Path(repo.working_tree_dir or ".")
    for name, text in files.items():
        (top / name).parent.mkdir(parents=True, exist_ok=True)
        (top / name).write_text(text)
    repo.index.add(list(files))
    return repo.index.commit(message).hexsha


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class HelloService:
    """hello-service started with bin/start from a release dir; stopped by its pid."""

    def __init__(self, release: Path, root: Path, port: int) -> None:
        self.release, self.root, self.port = release, root, port
        self.url = f"http://127.0.0.1:{port}"
        self.env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "DEPLOY_ROOT": str(root)}
        self.env.pop("BAD_RELEASE", None)

    @property
    def pid_file(self) -> Path:
        return self.root / "shared" / "hello.pid"

    def start(self, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.release / "bin" / "start")],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=30,
        )

    def kill(self) -> None:
        """Stop it by the pid it wrote, bounded, whatever bin/stop did."""
        if not self.pid_file.exists():
            return
        pid = int(self.pid_file.read_text())
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        for _ in range(50):
            if not pid_alive(pid):
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


@pytest.fixture
def hello(tmp_path: Path):
    """A running hello-service (the example, as it is in the repository) on a free port."""
    service = HelloService(HELLO, tmp_path / "hello-root", free_port())
    started = service.start()
    assert started.returncode == 0, started.stderr
    yield service
    service.kill()


# --- tests of _release.py -------------------------------------------------------------


def test_version_order_is_semantic() -> None:
    versions = ["1.10.0", "1.2.0", "1.2.0-rc.1", "1.2.0-rc.2", "v1.9.9", "0.9.0", "1.2.0-alpha"]
    ordered = sorted(versions, key=version_key)
    assert ordered == [
        "0.9.0",
        "1.2.0-alpha",
        "1.2.0-rc.1",
        "1.2.0-rc.2",
        "1.2.0",
        "v1.9.9",
        "1.10.0",
    ]
    assert version_key("not-a-version") < version_key("0.0.1")


def test_version_names() -> None:
    assert normalize_version("v1.2.3") == "1.2.3"
    assert normalize_version("vendor") == "vendor"
    assert same_version("v1.0.0", "1.0.0")
    assert valid_version("1.0.0+build.5")
    assert not valid_version("../etc")
    assert not valid_version("1.0 0")


def test_prune_keeps_protected_and_newest() -> None:
    releases = ["1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0"]
    # current 1.4.0, previous 1.3.0, newest verified 1.0.0: keep 3 -> only those three stay.
    assert prune_candidates(releases, 3, {"1.4.0", "1.3.0", "1.0.0"}) == ["1.1.0", "1.2.0"]
    # Room left after the protected ones goes to the newest.
    assert prune_candidates(releases, 4, {"1.4.0", "1.3.0", None}) == ["1.0.0"]
    # Protected ones are kept even beyond keep_releases.
    assert prune_candidates(releases, 1, {"1.4.0", "1.0.0", None}) == ["1.1.0", "1.2.0", "1.3.0"]


def test_switch_script_replaces_the_link_atomically(tmp_path: Path) -> None:
    for name in ("1.0.0", "2.0.0"):
        (tmp_path / "releases" / name).mkdir(parents=True)
    LocalConnection().run(switch_script(str(tmp_path), "1.0.0", "r1"))
    result = LocalConnection().run(switch_script(str(tmp_path), "2.0.0", "r2"))
    assert result.ok, result
    assert os.readlink(tmp_path / "current") == str(tmp_path / "releases" / "2.0.0")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current", "releases"]
