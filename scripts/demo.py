"""`make demo`: the whole release workflow on this machine, no SSH and no root, in about a minute.

It makes a git repository of examples/hello-service (with a bare "origin" to
push tags to) in /tmp/deployplay-demo, then, with playbooks/release.yml and
inventories/local.yml:

    v1.0.0  -> staging, then production (canary first, promotion gate)
    v1.1.0  -> staging, then production
    v1.2.0  -> staging: a bad release (half its requests fail); monitor catches it
               and the failure handler rolls staging back to v1.1.0
    deployplay history -i local

The local "hosts" live under /tmp/deployplay-local/<host>. The demo is
rerunnable: it stops what a previous run left and starts from scratch. It
stops every service it started (bin/stop, by pid file) before it exits, even
on failure or Ctrl-C; the ledgers stay, so `deployplay history -i local`
still works afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = Path("/tmp/deployplay-demo")
REPO = WORK / "hello-service"
ORIGIN = WORK / "origin.git"
HOSTS = Path("/tmp/deployplay-local")
VARS = WORK / "demo-vars.yml"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Demo Dev",
    "GIT_AUTHOR_EMAIL": "dev@example.com",
    "GIT_COMMITTER_NAME": "Demo Dev",
    "GIT_COMMITTER_EMAIL": "dev@example.com",
}
# A run must never hang the demo: the slowest (production, two batches) takes ~20s.
RUN_TIMEOUT_S = 120


def say(text: str) -> None:
    bar = "=" * 78
    print(f"\n{bar}\n== {text}\n{bar}", flush=True)


def git(*args: str, cwd: Path = REPO) -> None:
    subprocess.run(
        ["git", *args],
        cwd=cwd,
        check=True,
        env={**os.environ, **GIT_ENV},
        stdout=subprocess.DEVNULL,
    )


def deployplay() -> list[str]:
    """The deployplay of this venv (the console script beside this Python)."""
    script = Path(sys.executable).parent / "deployplay"
    return [str(script)] if script.exists() else [sys.executable, "-m", "deployplay"]


def stop_services() -> None:
    """Stop every hello-service under the local deploy roots, by its pid file (bin/stop)."""
    if not HOSTS.is_dir():
        return
    for root in sorted(HOSTS.iterdir()):
        stop = root / "current" / "bin" / "stop"
        if stop.exists():
            subprocess.run(
                [str(stop)],
                env={**os.environ, "DEPLOY_ROOT": str(root)},
                timeout=30,
                check=False,
                stdout=subprocess.DEVNULL,
            )


def prepare_repository() -> None:
    """A fresh copy of hello-service as a git repository whose main tracks a bare origin."""
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    shutil.copytree(
        ROOT / "examples" / "hello-service",
        REPO,
        ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", "bad_release"),
    )
    (REPO / ".gitignore").write_text("__pycache__/\n.pytest_cache/\n")
    (REPO / "VERSION").write_text("1.0.0\n")
    git("init", "-q", "--bare", str(ORIGIN), cwd=WORK)
    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-q", "-m", "hello-service 1.0.0")
    git("remote", "add", "origin", str(ORIGIN))
    git("push", "-q", "-u", "origin", "main")
    # The demo's own settings, on top of inventories/local.yml: where the service's
    # repository is, and a test command that has pytest (this venv's).
    VARS.write_text(
        f"app_repo: {REPO}\ntest_command: {sys.executable} -m pytest -q -p no:cacheprovider\n"
    )


def bump(version: str, *, bad: bool = False) -> None:
    """Commit a new version (a bad one fails half its requests) and push it."""
    (REPO / "VERSION").write_text(f"{version}\n")
    if bad:
        (REPO / "bad_release").write_text("errors:0.5\n")
    git("add", "-A")
    git("commit", "-q", "-m", f"hello-service {version}")
    git("push", "-q", "origin", "main")


def release(limit: str) -> int:
    command = [*deployplay(), "run", "playbooks/release.yml", "-i", "local", "--limit", limit]
    command += ["-e", f"@{VARS}"]
    print("$ " + " ".join(command), flush=True)
    # The tag module makes annotated tags: the demo's identity works on a fresh machine too.
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(command, cwd=ROOT, env=env, timeout=RUN_TIMEOUT_S, check=False).returncode


def expect(code: int, wanted: int, what: str) -> None:
    if code != wanted:
        raise SystemExit(f"demo: {what} exited {code}, expected {wanted}")


def show_history() -> None:
    shown = [*deployplay(), "history", "-i", "local"]
    print("$ " + " ".join(shown), flush=True)
    subprocess.run(shown, cwd=ROOT, timeout=RUN_TIMEOUT_S, check=False)


def main() -> int:
    started = time.monotonic()
    stop_services()
    shutil.rmtree(HOSTS, ignore_errors=True)
    try:
        say("a git repository of examples/hello-service in /tmp/deployplay-demo")
        prepare_repository()
        say("v1.0.0 to staging")
        expect(release("staging"), 0, "v1.0.0 to staging")
        say("v1.0.0 to production: canary prod-1 first, then prod-2")
        expect(release("production"), 0, "v1.0.0 to production")
        bump("1.1.0")
        say("v1.1.0 to staging")
        expect(release("staging"), 0, "v1.1.0 to staging")
        say("v1.1.0 to production")
        expect(release("production"), 0, "v1.1.0 to production")
        bump("1.2.0", bad=True)
        say("v1.2.0 to staging: a bad release -- monitor catches it, staging rolls back")
        expect(release("staging"), 2, "the bad v1.2.0 to staging")
        say("what runs where (production never saw v1.2.0: the promotion gate would refuse it)")
        show_history()
    finally:
        stop_services()
    print(f"\ndemo done in {time.monotonic() - started:.0f}s; services stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
