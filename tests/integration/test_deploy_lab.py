"""The deployment modules on the SSH lab, end to end through `deployplay run`.

One lab of four hosts (stage1 in staging; web1..web3 in production) is shared by
the module; every test has its own service repository (with a bare origin), deploy
root and port, so the tests do not see each other's releases. hello-service is
deployed for real and checked from the controller over HTTP, the hosts with
testinfra and their ledgers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from deploy_lab_support import (
    HOSTS,
    PRODUCTION,
    Site,
    release_playbook,
    run_env,
)
from lab.lab import Lab, lab_unavailable

pytestmark = [
    pytest.mark.lab,
    pytest.mark.filterwarnings("ignore:Unknown ssh-ed25519 host key"),  # testinfra's policy
]


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    reason = lab_unavailable()
    if reason:
        pytest.skip(reason)
    lab = Lab(list(HOSTS)).start()
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture
def site(lab: Lab, tmp_path: Path) -> Site:
    return Site(lab, tmp_path)


@pytest.fixture
def playbook(tmp_path: Path) -> Path:
    return release_playbook(tmp_path / "release.yml")


def deploy(site: Site, playbook: Path, *args: str) -> None:
    """Staging, then production (the promotion gate needs staging first); both must pass."""
    for limit in ("staging", "production"):
        run = site.run(playbook, "--limit", limit, *args)
        assert run.code == 0, str(run)


def test_canary_release_then_a_rerun_is_all_ok(site: Site, playbook: Path):
    deploy(site, playbook)
    assert {h: site.served(h) for h in HOSTS} == dict.fromkeys(HOSTS, "1.0.0")

    site.release("1.1.0")
    # The gate: production refuses 1.1.0 until staging runs it verified; nothing moves.
    refused = site.run(playbook, "--limit", "production")
    assert refused.code == 2, str(refused)
    gate = refused.result("promotion gate", "web1")
    assert gate["status"] == "failed"
    assert gate["msg"].startswith(
        "1.1.0 is not verified on staging (this inventory): stage1: runs 1.0.0, not 1.1.0."
    ), gate["msg"]
    assert {h: site.current(h) for h in PRODUCTION} == dict.fromkeys(PRODUCTION, "1.0.0")
    assert {h: site.served(h) for h in PRODUCTION} == dict.fromkeys(PRODUCTION, "1.0.0")

    staging = site.run(playbook, "--limit", "staging")
    assert staging.code == 0, str(staging)
    production = site.run(playbook, "--limit", "production")
    assert production.code == 0, str(production)
    # serial [1, "100%"]: the canary alone first, then the two others together.
    assert production.batches("push") == [["web1"], ["web2", "web3"]]
    for host in PRODUCTION:
        assert production.statuses(host)["push"] == "changed"
        assert site.served(host) == "1.1.0"
        infra = site.testinfra(host)
        assert infra.file(f"{site.path}/current").linked_to == f"{site.path}/releases/1.1.0"
        assert infra.file(f"{site.path}/releases/1.1.0/VERSION").content_string == "1.1.0\n"
        assert infra.socket(f"tcp://0.0.0.0:{site.port}").is_listening

    rerun = site.run(playbook, "--limit", "production")
    assert rerun.code == 0, str(rerun)
    release_tasks = {
        "promotion gate": "ok", "lock": "ok", "push": "ok", "smoke": "ok", "monitor": "ok",
    }  # fmt: skip
    prechecks = {"git is clean and in sync": "ok", "version is tagged": "ok"}
    assert rerun.statuses("web1") == {**prechecks, **release_tasks}, rerun.statuses("web1")
    # run_once runs once per batch: the gate on web1, then on web2 for the second batch.
    assert rerun.statuses("web2") == release_tasks, rerun.statuses("web2")
    del release_tasks["promotion gate"]
    assert rerun.statuses("web3") == release_tasks, rerun.statuses("web3")
    assert rerun.batches("push") == [["web1"], ["web2", "web3"]]
    for host in PRODUCTION:
        assert site.current(host) == "1.1.0" and site.served(host) == "1.1.0"
        # The rerun deployed nothing: smoke only records that 1.1.0 was verified again.
        rerun_events = [e for e in site.ledger(host) if e["run_id"] == rerun.report["run_id"]]
        assert [(e["event"], e["version"]) for e in rerun_events] == [("verified", "1.1.0")]


def events(site: Site, host: str) -> list[tuple[str, str | None]]:
    return [(e["event"], e.get("version")) for e in site.ledger(host)]


def test_bad_release_caught_by_smoke_on_the_canary(site: Site, tmp_path: Path):
    playbook = release_playbook(tmp_path / "release.yml", gate=False)
    first = site.run(playbook, "--limit", "production")
    assert first.code == 0, str(first)
    before = {h: site.ledger(h) for h in ("web2", "web3")}

    site.release("1.1.0", bad="health")  # /health answers 503
    run = site.run(playbook, "--limit", "production")
    assert run.code == 2, str(run)
    assert run.statuses("web1")["smoke"] == "failed"
    assert run.statuses("web1")["rollback release"] == "changed"
    assert run.batches("push") == [["web1"]]  # the second batch never started
    assert site.current("web1") == "1.0.0" and site.served("web1") == "1.0.0"
    assert events(site, "web1")[-4:] == [
        ("deploy", "1.1.0"),
        ("failed", "1.1.0"),  # smoke's failure, with what it saw
        ("rollback", "1.0.0"),
        ("bad", "1.1.0"),
    ], site.ledger("web1")
    assert "503" in str(site.ledger("web1")[-3])
    for host in ("web2", "web3"):  # never touched: same ledger, no 1.1.0 on the host
        assert site.ledger(host) == before[host]
        assert site.releases(host) == ["1.0.0"]
        assert site.served(host) == "1.0.0"


def test_bad_release_caught_by_monitor_after_all_hosts_switched(site: Site, tmp_path: Path):
    playbook = release_playbook(tmp_path / "release.yml", serial=None, gate=False)
    site.release("1.1.0")
    first = site.run(playbook, "--limit", "production")
    assert first.code == 0, str(first)

    site.release("1.2.0", bad="errors:0.5")  # half the requests fail
    run = site.run(playbook, "--limit", "production")
    assert run.code == 2, str(run)
    for host in PRODUCTION:
        statuses = run.statuses(host)
        assert statuses["push"] == "changed" and statuses["smoke"] == "ok", statuses
        assert statuses["monitor"] == "failed", statuses
        assert "error rate" in run.result("monitor", host)["msg"]
        assert statuses["rollback release"] == "changed"
        assert site.served(host) == "1.1.0"
        infra = site.testinfra(host)
        assert infra.file(f"{site.path}/current").linked_to == f"{site.path}/releases/1.1.0"
        assert infra.socket(f"tcp://0.0.0.0:{site.port}").is_listening
        story = events(site, host)
        assert story[-4:] == [
            ("deploy", "1.2.0"),
            ("verified", "1.2.0"),
            ("rollback", "1.1.0"),
            ("bad", "1.2.0"),
        ], story
        rollback = site.ledger(host)[-2]
        assert rollback["from"] == "1.2.0" and "release 1.2.0 failed" in rollback["reason"]


def test_keep_releases_prunes_the_oldest(site: Site, playbook: Path):
    for version in ("1.1.0", "1.2.0", "1.3.0"):
        run = site.run(playbook, "--limit", "staging", keep_releases=2)
        assert run.code == 0, str(run)
        site.release(version)
    last = site.run(playbook, "--limit", "staging", keep_releases=2)
    assert last.code == 0, str(last)
    assert "pruned 1.1.0" in last.result("push", "stage1")["msg"]
    assert site.releases("stage1") == ["1.2.0", "1.3.0"]
    assert site.served("stage1") == "1.3.0"


def test_a_held_lock_is_refused_and_nothing_changes(site: Site, playbook: Path):
    first = site.run(playbook, "--limit", "staging")
    assert first.code == 0, str(first)
    info = '{"run_id": "r-other", "owner": "ci", "controller": "build-7", "pid": 4242}'
    site.sh("stage1", f"mkdir {site.path}/.deployplay/lock && echo '{info}' > "
            f"{site.path}/.deployplay/lock/info")  # fmt: skip
    ledger = site.ledger("stage1")
    site.release("1.1.0")

    run = site.run(playbook, "--limit", "staging")
    assert run.code == 2, str(run)
    msg = run.result("lock", "stage1")["msg"]
    assert msg.startswith("locked by ci@build-7 (run r-other, pid 4242)"), msg
    assert "wait for it, or ask its owner" in msg
    rollback = run.result("rollback release", "stage1")
    assert rollback["status"] == "ok" and "switched nothing" in rollback["msg"], rollback
    assert site.ledger("stage1") == ledger
    assert site.releases("stage1") == ["1.0.0"] and site.served("stage1") == "1.0.0"
    assert site.sh("stage1", f"cat {site.path}/.deployplay/lock/info").strip() == info


def test_check_mode_on_push_changes_nothing(site: Site, tmp_path: Path):
    playbook = tmp_path / "push.yml"
    playbook.write_text(
        "- hosts: staging\n  tasks:\n"
        "    - name: push\n"
        "      push: {path: '{{ deploy_path }}', repo: '{{ app_repo }}', git_ref: HEAD,\n"
        "             restart: '{{ app_restart }}'}\n"
    )
    first = site.run(playbook)
    assert first.code == 0, str(first)
    site.release("1.1.0")
    snapshot = f"find {site.path} -path '*/logs' -prune -o -print | sort; cat {site.path}/.d*/h*"
    before = site.sh("stage1", snapshot)

    run = site.run(playbook, "--check")
    assert run.code == 0, str(run)
    push = run.result("push", "stage1")
    assert push["status"] == "changed", push
    assert push["msg"] == "would replace release 1.0.0 with 1.1.0 (upload and switch)"
    assert site.sh("stage1", snapshot) == before
    assert site.served("stage1") == "1.0.0"


def test_controller_killed_mid_push_then_the_stale_lock_is_broken(site: Site, tmp_path: Path):
    playbook = release_playbook(tmp_path / "release.yml", serial=None, gate=False)
    first = site.run(playbook, "--limit", "production")
    assert first.code == 0, str(first)
    site.release("1.1.0")
    _kill_mid_push(site, playbook, tmp_path)

    for host in PRODUCTION:  # the orphaned remote script goes on until it notices
        _wait_until(lambda h=host: not _building(site, h), timeout=30)
        state = (host, site.current(host), site.served(host), _recorded(site, host))
        # The dead run never switched: its script stops before the switch once the
        # controller is gone. The new release sits complete beside the old one.
        assert state == (host, "1.0.0", "1.0.0", "1.0.0"), state
        assert site.releases(host) == ["1.0.0", "1.1.0"]
        marker = f"test -f {site.path}/releases/1.1.0/.deployplay-release"
        assert site.lab.exec(host, marker).returncode == 0, f"{host}: half a release"
        assert site.lab.exec(host, f"test -d {site.path}/.deployplay/lock").returncode == 0
    # A run that died just after its switch (before its record and restart) leaves this:
    site.sh(
        "web3", f"cd {site.path} && ln -sfn {site.path}/releases/1.1.0 c.tmp && mv -T c.tmp current"
    )
    assert (site.current("web3"), site.served("web3")) == ("1.1.0", "1.0.0")

    # The dead run's lock is older than the ttl, but it is only broken when asked to.
    refused = site.run(playbook, "--limit", "production", lock_ttl=1)
    assert refused.code == 2, str(refused)
    assert "run again with break_stale: true" in refused.result("lock", "web1")["msg"]

    rerun = site.run(playbook, "--limit", "production", break_stale_lock=True, lock_ttl=1)
    assert rerun.code == 0, str(rerun)
    for host in PRODUCTION:
        # web3 too: a switch never recorded nor restarted is finished, not called `ok`.
        push = rerun.result("push", host)
        assert (push["status"], push["msg"]) == ("changed", "released 1.1.0 (was 1.0.0)"), host
        assert "broke the stale lock" in rerun.result("lock", host)["msg"]
        assert any(e["event"] == "lock_broken" for e in site.ledger(host))
        assert site.current(host) == "1.1.0" and site.served(host) == "1.1.0"
        assert _recorded(site, host) == "1.1.0"
        assert site.lab.exec(host, f"test -e {site.path}/.deployplay/lock").returncode != 0


def _recorded(site: Site, host: str) -> str:
    """The release the ledger's last deploy names."""
    return [e["version"] for e in site.ledger(host) if e["event"] == "deploy"][-1]


def _kill_mid_push(site: Site, playbook: Path, tmp_path: Path) -> None:
    """Start a run whose build step sleeps; SIGKILL it once all three hosts are building."""
    # The release is extracted and in place on each host, not yet switched.
    argv, _report = site.argv(
        playbook, "--limit", "production", build_cmd="sleep 2; : dpl_slow_build"
    )
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=run_env(), cwd=tmp_path
    )
    try:
        deadline = time.monotonic() + 60
        while not all(_building(site, host) for host in PRODUCTION):
            assert proc.poll() is None, "the run ended before the push was under way"
            assert time.monotonic() < deadline, "the push never got under way"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:  # only when an assertion above failed: our own child
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL


def _building(site: Site, host: str) -> bool:
    return site.lab.exec(host, "pgrep -f dpl_slow_buil[d] >/dev/null").returncode == 0


def _wait_until(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


# case -> (the task, what its one-line error says)
BAD_INPUT = {
    "read-only deploy path": (
        "push: {path: /srv/ro-TAG/app, repo: '{{ app_repo }}', git_ref: HEAD}",
        "cannot create the release directory",
    ),
    "unknown git ref": (
        "push: {path: '{{ deploy_path }}', repo: '{{ app_repo }}', git_ref: v9.9.9}",
        "cannot resolve git ref 'v9.9.9' in ",
    ),
    "smoke URL that does not resolve": (
        "smoke: {urls: ['http://hello.invalid:{{ app_port }}/health'], retries: 0}",
        "smoke failed after 1 attempt: http://hello.invalid:",
    ),
    "monitor threshold from a variable": (
        "monitor: {duration: 1, urls: ['{{ health_url }}'], max_error_rate: '{{ threshold }}'}",
        "argument 'max_error_rate': Input should be a valid number",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_a_one_line_error(site: Site, tmp_path: Path, case: str):
    task, expected = BAD_INPUT[case]
    tag = tmp_path.name[-12:].replace("_", "")
    if case.startswith("read-only"):
        site.sh("stage1", f"mkdir -p /srv/ro-{tag} && mount -t tmpfs -o ro dpl-ro /srv/ro-{tag}")
    playbook = tmp_path / "bad.yml"
    task = task.replace("TAG", tag)
    playbook.write_text(f"- hosts: staging\n  tasks:\n    - name: step\n      {task}\n")
    run = site.run(playbook, threshold="lots")
    assert run.code == 2, str(run)
    msg = run.result("step", "stage1")["msg"]
    assert expected in msg.splitlines()[0], msg
    if case.startswith("read-only"):  # under the headline, what the host said
        assert "Read-only file system" in msg
    fatal = [line for line in run.output.splitlines() if line.startswith("fatal: [stage1]")]
    assert len(fatal) == 1 and expected in fatal[0], run.output
    assert "Traceback" not in run.output


def test_malformed_monitor_threshold_is_refused_before_the_run(site: Site, tmp_path: Path):
    playbook = tmp_path / "bad.yml"
    playbook.write_text(
        "- hosts: staging\n  tasks:\n    - name: step\n"
        "      monitor: {duration: 1, urls: ['{{ health_url }}'], max_error_rate: lots}\n"
    )
    run = site.run(playbook)
    assert run.code == 3, str(run)
    assert run.output.strip().splitlines() == [
        f"error: {playbook}:4:58: task \"step\": argument 'max_error_rate': Input should be a "
        "valid number, unable to parse string as a number (got 'lots')"
    ]
