"""`deployplay run` over the lab inventory: general modules, check mode, idempotence, one SSH
login per host per run, and a host that drops off mid-play."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import testinfra

pytestmark = pytest.mark.lab

PLAYBOOK = """
- name: general modules
  hosts: lab
  vars:
    base: {base}
  tasks:
    - name: log directory
      file: {{path: "{{{{ base }}}}/logs", state: directory, mode: "0750"}}
    - name: static file
      copy: {{content: "static\\n", dest: "{{{{ base }}}}/static.txt"}}
    - name: rendered config
      template: {{src: app.conf.j2, dest: "{{{{ base }}}}/app.conf", mode: "0640"}}
    - name: current link
      file: {{src: "{{{{ base }}}}", dest: "{{{{ base }}}}/current", state: link}}
    - name: read it back
      command: cat {{{{ base }}}}/app.conf
      changed_when: false
    - name: shell sees the host
      shell: test "$(hostname)" = "{{{{ inventory_hostname }}}}"
      changed_when: false
"""

TEMPLATE = (
    "name={{ inventory_hostname }}\nport={{ 8000 + groups['lab'].index(inventory_hostname) }}\n"
)


def deployplay(
    playbook: Path, inventory: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[int, str, dict]:
    """Run `deployplay run` as a user would; (exit code, output, JSON report)."""
    report = playbook.with_suffix(f".{uuid.uuid4().hex[:6]}.json")
    argv = [sys.executable, "-m", "deployplay", "run", str(playbook), "-i", str(inventory)]
    proc = subprocess.run(
        [*argv, "--report", str(report), *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})},
    )  # fmt: skip
    data = json.loads(report.read_text()) if report.exists() else {}
    return proc.returncode, proc.stdout + proc.stderr, data


def statuses(report: dict, host: str) -> dict[str, str]:
    return {
        task["name"]: task["results"][host]["status"]
        for play in report["plays"]
        for task in play["tasks"]
        if host in task["results"]
    }


@pytest.fixture
def general_playbook(tmp_path: Path) -> tuple[Path, str]:
    base = f"/srv/pb-{uuid.uuid4().hex[:8]}"
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "app.conf.j2").write_text(TEMPLATE)
    playbook = tmp_path / "site.yml"
    playbook.write_text(PLAYBOOK.format(base=base))
    return playbook, base


@pytest.mark.filterwarnings("ignore:Unknown ssh-ed25519 host key")  # testinfra's WarningPolicy
def test_check_mode_then_apply_then_idempotent(lab_fleet, general_playbook):
    playbook, base = general_playbook
    for name in lab_fleet.hosts:
        assert lab_fleet.exec(name, f"mkdir {base}").returncode == 0
    code, output, report = deployplay(playbook, lab_fleet.inventory, "--check")
    assert code == 0, output
    assert statuses(report, "web1") == {
        "log directory": "changed",
        "static file": "changed",
        "rendered config": "changed",
        "current link": "changed",
        "read it back": "skipped",
        "shell sees the host": "skipped",
    }, output
    assert lab_fleet.exec("web1", f"ls -A {base}").stdout == ""  # check mode changed nothing

    code, output, report = deployplay(playbook, lab_fleet.inventory)
    assert code == 0, output
    assert statuses(report, "web2") == {
        "log directory": "changed",
        "static file": "changed",
        "rendered config": "changed",
        "current link": "changed",
        "read it back": "ok",
        "shell sees the host": "ok",
    }, output

    code, output, report = deployplay(playbook, lab_fleet.inventory)
    assert code == 0, output
    for name in lab_fleet.hosts:
        assert set(statuses(report, name).values()) == {"ok"}, (name, output)

    for index, name in enumerate(lab_fleet.hosts):
        host = testinfra.get_host(
            f"paramiko://{lab_fleet.host(name).address}", ssh_config=str(lab_fleet.ssh_config)
        )
        config = host.file(f"{base}/app.conf")
        assert config.content_string == f"name={name}\nport={8000 + index}\n"
        assert config.mode == 0o640
        assert host.file(f"{base}/logs").is_directory
        assert host.file(f"{base}/logs").mode == 0o750
        assert host.file(f"{base}/current").linked_to == base
        assert host.file(f"{base}/static.txt").content_string == "static\n"


def test_one_ssh_login_per_host_per_run(lab_fleet, general_playbook):
    playbook, _base = general_playbook
    before = {name: lab_fleet.host(name).accepted_sessions() for name in lab_fleet.hosts}
    code, output, _report = deployplay(playbook, lab_fleet.inventory)
    assert code == 0, output
    after = {name: lab_fleet.host(name).accepted_sessions() for name in lab_fleet.hosts}
    assert {name: after[name] - before[name] for name in after} == dict.fromkeys(after, 1)


def test_host_dropping_off_mid_play_is_unreachable_and_others_go_on(fresh_lab, tmp_path: Path):
    lab = fresh_lab(3)
    playbook = tmp_path / "drop.yml"
    playbook.write_text(
        "- hosts: lab\n  tasks:\n"
        "    - name: before\n      command: hostname\n"
        "    - name: long step\n      shell: touch /srv/started; sleep 3\n"
        "    - name: after\n      command: echo after\n"
    )
    report_path = tmp_path / "report.json"
    argv = [sys.executable, "-m", "deployplay", "run", str(playbook), "-i", str(lab.inventory)]
    # Short keepalive and dead-peer timeout, so the drop is noticed in seconds.
    env = {**os.environ, "DEPLOYPLAY_SSH_KEEPALIVE": "1", "DEPLOYPLAY_SSH_DEAD_AFTER": "3"}
    proc = subprocess.Popen(
        [*argv, "--report", str(report_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while lab.exec("web2", "test -e /srv/started").returncode != 0:
            assert time.monotonic() < deadline and proc.poll() is None, "long step never started"
            time.sleep(0.1)
        lab.take_down("web2")
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 4, output
    assert "fatal: [web2]: UNREACHABLE!" in output
    report = json.loads(report_path.read_text())
    assert statuses(report, "web2") == {"before": "changed", "long step": "unreachable"}
    for name in ("web1", "web3"):
        assert statuses(report, name)["after"] == "changed", output
    assert report["stats"]["web2"]["unreachable"] == 1
    assert report["stats"]["web1"]["unreachable"] == 0


def test_unknown_host_keys_refused_then_accepted_from_the_cli(lab_fleet, tmp_path: Path):
    known = tmp_path / "known_hosts"
    known.write_text("")
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        lab_fleet.inventory.read_text().replace(str(lab_fleet.known_hosts), str(known))
    )
    playbook = tmp_path / "ping.yml"
    playbook.write_text("- hosts: lab\n  tasks:\n    - command: hostname\n")

    code, output, _report = deployplay(playbook, inventory)
    assert code == 4, output
    assert "unknown host key ssh-ed25519" in output and "--accept-new-host-keys" in output
    assert known.read_text() == ""

    code, output, _report = deployplay(playbook, inventory, "--accept-new-host-keys")
    assert code == 0, output
    recorded = sorted(known.read_text().splitlines())
    assert recorded == sorted(h.host_key_line() for h in lab_fleet.hosts.values())

    # A changed key is refused even with --accept-new-host-keys, naming the file and line.
    web2_key = lab_fleet.host("web2").host_key_line().split(" ", 1)[1]
    web1_line = recorded.index(lab_fleet.host("web1").host_key_line()) + 1
    lines = recorded[:]
    lines[web1_line - 1] = f"{lab_fleet.host('web1').address} {web2_key}"
    known.write_text("\n".join(lines) + "\n")
    code, output, report = deployplay(playbook, inventory, "--accept-new-host-keys")
    assert code == 4, output
    assert "HOST KEY CHANGED" in output and f"{known}:{web1_line}" in output
    assert report["stats"]["web1"]["unreachable"] == 1
    assert report["stats"]["web2"]["unreachable"] == 0
