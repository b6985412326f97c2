"""Hosts that refuse, do not exist, or drop off mid-run: UnreachableError, fast and bounded."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from pathlib import Path

import paramiko
import pytest

from deployplay.errors import UnreachableError
from deployplay.runner.connections.ssh import SSHConnection, SSHOptions, describe_failure

# Short liveness settings so a dropped host is noticed in seconds.
FAST = {"connect_timeout": 2.0, "keepalive_s": 1.0, "dead_after_s": 3.0}


@pytest.mark.lab
def test_connection_refused_is_unreachable_fast(fresh_lab):
    lab = fresh_lab(1)
    lab.stop_sshd("web1")
    conn = lab.connection("web1", **FAST)
    started = time.monotonic()
    with pytest.raises(UnreachableError) as caught:
        conn.run("true")
    assert time.monotonic() - started < 2
    address = lab.host("web1").address
    assert str(caught.value) == f"web1 ({address}:22): connection refused — is sshd running?"
    # The host stays unreachable for this run, without another connection attempt...
    lab.start_sshd("web1")
    with pytest.raises(UnreachableError, match="connection refused"):
        conn.run("true")
    # ...until the connection is closed (a new run).
    conn.close()
    assert conn.run("hostname").stdout == "web1\n"
    conn.close()


@pytest.mark.lab
def test_address_with_no_host_is_unreachable_within_the_timeout(lab_fleet):
    conn = SSHConnection(
        "ghost", hostname=lab_fleet.unused_address(), user="root",
        key_filename=str(lab_fleet.key), options=lab_fleet.ssh_options(**FAST),
    )  # fmt: skip
    started = time.monotonic()
    with pytest.raises(UnreachableError) as caught:
        conn.run("true")
    assert time.monotonic() - started < 6
    message = str(caught.value)
    assert message.startswith(f"ghost ({lab_fleet.unused_address()}:22): ")
    assert "timed out" in message or "no route to host" in message
    assert "\n" not in message


@pytest.mark.lab
def test_authentication_refused(lab_fleet, tmp_path: Path):
    other_key = tmp_path / "other_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other_key)],
        check=True,
        timeout=10,
    )
    host = lab_fleet.host("web1")
    conn = SSHConnection(
        "web1", hostname=host.address, user="nobody", key_filename=str(other_key),
        known_hosts=lab_fleet.known_hosts, options=lab_fleet.ssh_options(**FAST),
    )  # fmt: skip
    with pytest.raises(
        UnreachableError, match=r"web1 \(.*:22\): authentication refused for user 'nobody'"
    ):
        conn.run("true")


@pytest.mark.lab
def test_host_taken_off_the_network_mid_command(fresh_lab):
    lab = fresh_lab(2)
    conn = lab.connection("web1", **FAST)
    other = lab.connection("web2", **FAST)
    assert conn.run("hostname").stdout == "web1\n"
    outcome: dict[str, object] = {}

    def long_command() -> None:
        try:
            outcome["result"] = conn.run("sleep 4; echo done")
        except Exception as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=long_command)
    started = time.monotonic()
    worker.start()
    time.sleep(0.5)
    lab.take_down("web1")
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert isinstance(outcome.get("error"), UnreachableError), outcome
    assert time.monotonic() - started < 12
    assert "connection lost" in str(outcome["error"])
    # From then on: unreachable at once, and the other host is unaffected.
    quick = time.monotonic()
    with pytest.raises(UnreachableError):
        conn.run("true")
    assert time.monotonic() - quick < 0.5
    assert other.run("hostname").stdout == "web2\n"
    lab.bring_up("web1")
    conn.close()
    assert conn.run("hostname").stdout == "web1\n"
    for c in (conn, other):
        c.close()


@pytest.mark.lab
def test_host_taken_off_the_network_between_commands(fresh_lab):
    lab = fresh_lab(1)
    conn = lab.connection("web1", **FAST)
    assert conn.run("true").ok
    lab.take_down("web1")
    started = time.monotonic()
    with pytest.raises(UnreachableError, match="connection lost"):
        conn.run("true")
    assert time.monotonic() - started < 8
    conn.close()


@pytest.mark.lab
def test_transport_that_died_while_idle_is_not_silently_reopened(fresh_lab):
    lab = fresh_lab(1)
    conn = lab.connection("web1", **FAST)
    assert conn.run("true").ok
    logins = lab.host("web1").accepted_sessions()
    lab.take_down("web1")
    transport = conn.fabric.client.get_transport()
    deadline = time.monotonic() + 15
    while transport.is_active() and time.monotonic() < deadline:
        time.sleep(0.2)  # keepalives go unanswered until TCP_USER_TIMEOUT kills the socket
    assert not transport.is_active()
    lab.bring_up("web1")
    with pytest.raises(UnreachableError, match="connection lost"):
        conn.run("true")
    assert lab.host("web1").accepted_sessions() == logins  # no second login in the same run
    conn.close()


def test_describe_failure_names_the_reason():
    conn = SSHConnection(
        "web1", hostname="h.example", user="deploy", options=SSHOptions(connect_timeout=3)
    )
    gai = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert (
        describe_failure(gai, conn)
        == "name not resolved (Name or service not known) — check host/ansible_host"
    )
    assert describe_failure(TimeoutError(), conn).startswith("timed out after 3s")
    refused = paramiko.ssh_exception.NoValidConnectionsError(
        {("10.0.0.1", 22): ConnectionRefusedError(111, "refused")}
    )
    assert describe_failure(refused, conn) == "connection refused — is sshd running?"
    auth = paramiko.AuthenticationException("no")
    assert "authentication refused for user 'deploy'" in describe_failure(auth, conn)


def test_proxy_jump_from_common_args():
    from deployplay.runner.connections.ssh import _proxy_from_args

    assert _proxy_from_args("-o ProxyJump=bastion") == ("bastion", None)
    assert _proxy_from_args("-J me@b1:2222,b2 -o StrictHostKeyChecking=no") == (
        "me@b1:2222,b2",
        None,
    )
    assert _proxy_from_args("-o 'ProxyCommand ssh -W %h:%p bastion'") == (
        None,
        "ssh -W %h:%p bastion",
    )
    assert _proxy_from_args("") == (None, None)
