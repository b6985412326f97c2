"""Host keys against real sshd hosts: unknown refused, changed refused, accept-new recorded."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from deployplay.errors import HostKeyError
from deployplay.runner.connections.hostkeys import (
    HostKeyPolicy,
    find_known_keys,
    fingerprint,
    known_hosts_name,
    record_key,
)


def _host_fingerprint(lab, name: str) -> str:
    out = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(lab.host(name).dir / "host_key.pub")],
        capture_output=True, text=True, check=True, timeout=10,
    ).stdout  # fmt: skip
    return out.split()[1]


@pytest.mark.lab
def test_unknown_host_is_refused(lab_fleet, tmp_path: Path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    conn = lab_fleet.connection("web1", known_hosts=empty)
    with pytest.raises(HostKeyError) as caught:
        conn.run("true")
    message = str(caught.value)
    assert "web1" in message and "unknown host key ssh-ed25519" in message
    assert _host_fingerprint(lab_fleet, "web1") in message
    assert "--accept-new-host-keys" in message
    assert empty.read_text() == ""  # nothing recorded
    assert "\n" not in message


@pytest.mark.lab
def test_accept_new_records_the_key(lab_fleet, tmp_path: Path):
    named = tmp_path / "named_known_hosts"
    conn = lab_fleet.connection("web1", known_hosts=named, accept_new_host_keys=True)
    assert conn.run("hostname").stdout == "web1\n"
    conn.close()
    assert named.read_text() == lab_fleet.host("web1").host_key_line() + "\n"
    # Recorded once: the next connection, strict this time, accepts it without change.
    strict = lab_fleet.connection("web1", known_hosts=named)
    assert strict.run("hostname").stdout == "web1\n"
    strict.close()
    assert named.read_text().count("\n") == 1


@pytest.mark.lab
def test_accept_new_records_in_user_known_hosts_when_none_is_named(lab_fleet):
    user_file = lab_fleet.dir / "user_known_hosts"
    user_file.unlink(missing_ok=True)
    from deployplay.runner.connections.ssh import SSHConnection

    host = lab_fleet.host("web2")
    conn = SSHConnection(
        "web2", hostname=host.address, user="root", key_filename=str(lab_fleet.key),
        options=lab_fleet.ssh_options(accept_new_host_keys=True),
    )  # fmt: skip
    try:
        assert conn.run("hostname").stdout == "web2\n"
    finally:
        conn.close()
        text = user_file.read_text()
        user_file.unlink()
    assert text == host.host_key_line() + "\n"


@pytest.mark.lab
def test_changed_key_is_refused_with_file_and_line(lab_fleet, tmp_path: Path):
    # web2's key recorded under web1's address: exactly what a reinstalled host looks like.
    wrong = tmp_path / "known_hosts"
    web1 = lab_fleet.host("web1")
    web2_line = lab_fleet.host("web2").host_key_line().split(" ", 1)[1]
    wrong.write_text(
        f"# a comment\notherhost ssh-ed25519 {web2_line.split()[1]}\n{web1.address} {web2_line}\n"
    )
    conn = lab_fleet.connection("web1", known_hosts=wrong, accept_new_host_keys=True)
    with pytest.raises(HostKeyError) as caught:
        conn.run("true")
    message = str(caught.value)
    assert "HOST KEY CHANGED" in message
    assert f"{wrong}:3" in message
    assert _host_fingerprint(lab_fleet, "web1") in message  # what it offers now
    assert _host_fingerprint(lab_fleet, "web2") in message  # what the file says
    assert "ssh-keygen -R" in message


@pytest.mark.lab
def test_changed_key_is_refused_for_hashed_entries(lab_fleet, tmp_path: Path):
    wrong = tmp_path / "known_hosts"
    web1 = lab_fleet.host("web1")
    wrong.write_text(f"{web1.address} {lab_fleet.host('web3').host_key_line().split(' ', 1)[1]}\n")
    subprocess.run(
        ["ssh-keygen", "-H", "-f", str(wrong)], capture_output=True, check=True, timeout=10
    )
    assert wrong.read_text().startswith("|1|")
    conn = lab_fleet.connection("web1", known_hosts=wrong)
    with pytest.raises(HostKeyError, match=rf"HOST KEY CHANGED.*{wrong}:1"):
        conn.run("true")


@pytest.mark.lab
def test_hashed_known_hosts_entry_is_accepted(lab_fleet, tmp_path: Path):
    hashed = tmp_path / "known_hosts"
    hashed.write_text(lab_fleet.host("web3").host_key_line() + "\n")
    subprocess.run(
        ["ssh-keygen", "-H", "-f", str(hashed)], capture_output=True, check=True, timeout=10
    )
    conn = lab_fleet.connection("web3", known_hosts=hashed)
    try:
        assert conn.run("hostname").stdout == "web3\n"
    finally:
        conn.close()


@pytest.mark.lab
def test_fingerprint_matches_openssh(lab_fleet):
    import paramiko

    key = paramiko.Ed25519Key(filename=str(lab_fleet.host("web1").host_key))
    assert fingerprint(key) == _host_fingerprint(lab_fleet, "web1")


def _key(tmp_path: Path, name: str):
    import paramiko

    path = tmp_path / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True, timeout=10
    )
    return paramiko.Ed25519Key(filename=str(path))


def test_find_known_keys_reads_hashed_and_port_entries(tmp_path: Path):
    key, other = _key(tmp_path, "a"), _key(tmp_path, "b")
    known = tmp_path / "known_hosts"
    known.write_text(
        f"@cert-authority *.example ssh-ed25519 {other.get_base64()}\n"
        f"db1,10.0.0.9 ssh-ed25519 {other.get_base64()}\n"
        f"[10.0.0.9]:2222 ssh-ed25519 {key.get_base64()}\n"
    )
    subprocess.run(
        ["ssh-keygen", "-H", "-f", str(known)], capture_output=True, check=True, timeout=10
    )
    on_2222 = find_known_keys([known], "10.0.0.9", 2222)
    # ssh-keygen -H writes db1 and 10.0.0.9 on lines of their own: the port entry is line 4.
    assert [(k.line, fingerprint(k.key)) for k in on_2222] == [(4, fingerprint(key))]
    assert [fingerprint(k.key) for k in find_known_keys([known], "10.0.0.9", 22)] == [
        fingerprint(other)
    ]
    assert find_known_keys([known, tmp_path / "missing"], "10.0.0.8", 22) == []
    assert known_hosts_name("h", 22) == "h" and known_hosts_name("h", 2222) == "[h]:2222"


def test_record_key_appends_on_a_fresh_line(tmp_path: Path):
    key = _key(tmp_path, "a")
    known = tmp_path / "sub" / "known_hosts"
    record_key(known, "10.0.0.9", 2222, key)
    known.write_text(known.read_text().rstrip("\n"))  # someone left no final newline
    record_key(known, "web1", 22, key)
    assert known.read_text().splitlines() == [
        f"[10.0.0.9]:2222 ssh-ed25519 {key.get_base64()}",
        f"web1 ssh-ed25519 {key.get_base64()}",
    ]


def test_policy_refuses_a_host_known_under_another_key_type(tmp_path: Path):
    import paramiko

    key = _key(tmp_path, "a")
    rsa = paramiko.RSAKey.generate(1024)
    known = tmp_path / "known_hosts"
    known.write_text(f"web1 ssh-rsa {rsa.get_base64()}\n")
    policy = HostKeyPolicy("web1", 22, [known], known, accept_new=True)
    with pytest.raises(HostKeyError, match=rf"HOST KEY CHANGED.*{known}:1"):
        policy.missing_host_key(paramiko.SSHClient(), "web1", key)
    assert known.read_text().count("\n") == 1  # nothing recorded
