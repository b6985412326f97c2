"""SSHConnection against the real sshd hosts of the shared lab fleet (left as found)."""

from __future__ import annotations

import io
import shutil
import tarfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest
import testinfra

from deployplay.errors import CommandTimeout, HostKeyError
from deployplay.runner.connections.base import Connection
from deployplay.runner.connections.ssh import SSHConnection, SSHOptions

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def web1(lab_fleet):
    conn = lab_fleet.connection("web1")
    yield conn
    conn.close()


def test_is_a_connection(web1):
    assert isinstance(web1, Connection)


def test_run_returns_output_and_exit_code(web1):
    result = web1.run("hostname; echo oops >&2; exit 3")
    assert (result.exit_code, result.stdout, result.stderr) == (3, "web1\n", "oops\n")
    assert "exited with 3" in str(result) and "oops" in str(result)


def test_run_with_env_and_cwd(web1):
    result = web1.run(
        'echo "$GREETING $OTHER"; pwd', env={"GREETING": "it's a", "OTHER": "$x"}, cwd="/srv"
    )
    assert result.stdout == "it's a $x\n/srv\n"


def test_missing_cwd_fails_the_command(web1):
    result = web1.run("echo never", cwd="/srv/does-not-exist")
    assert result.exit_code != 0 and "never" not in result.stdout


def test_stdin_bytes_and_no_stdin(web1):
    assert web1.run("wc -c", stdin=b"x" * 300_000).stdout.strip() == "300000"
    # Without stdin a command reading it sees EOF at once instead of hanging.
    assert web1.run("cat", timeout=10).stdout == ""


def test_large_output_on_both_streams(web1):
    result = web1.run("head -c 2000000 /dev/zero | tr '\\0' a; head -c 500000 /dev/zero >&2")
    assert len(result.stdout) == 2_000_000 and len(result.stderr) == 500_000


def test_timeout_stops_the_remote_command(web1, lab_fleet):
    marker = uuid.uuid4().hex
    started = time.monotonic()
    with pytest.raises(CommandTimeout, match="timed out after 1s"):
        web1.run(f"sleep 30 & sleep 31 # {marker}\nwait", timeout=1)
    assert time.monotonic() - started < 5
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and marker in lab_fleet.exec("web1", "ps -eo args").stdout:
        time.sleep(0.1)
    assert "sleep 3" not in lab_fleet.exec("web1", "ps -eo args").stdout
    assert web1.run("echo still usable").stdout == "still usable\n"


def test_put_and_get(web1):
    web1.put(b"hello\n", "/srv/greeting", mode=0o640)
    assert web1.get("/srv/greeting") == b"hello\n"
    assert web1.run("stat -c %a /srv/greeting").stdout.strip() == "640"
    web1.put(b"again\n", "/srv/greeting")  # keeps the mode it had
    assert web1.run("stat -c %a /srv/greeting; cat /srv/greeting").stdout == "640\nagain\n"
    assert web1.run("ls -a /srv | grep -c dpl-").stdout.strip() == "0"  # no temporary left


def test_put_a_local_file_and_get_missing(web1, tmp_path: Path):
    src = tmp_path / "data.bin"
    src.write_bytes(bytes(range(256)) * 1000)
    web1.put(src, "/srv/data.bin")
    assert web1.get("/srv/data.bin") == src.read_bytes()
    with pytest.raises(FileNotFoundError):
        web1.get("/srv/nope")


def test_tar_stream_into_remote_directory(web1):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, text in {"app/main.py": "print(1)\n", "app/VERSION": "1.2.3\n"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text.encode()))
    buffer.seek(0)
    web1.run("rm -rf /srv/release && mkdir -p /srv/release")
    result = web1.run("tar -x -C /srv/release", stdin=buffer)
    assert result.ok, str(result)
    assert web1.run("cat /srv/release/app/VERSION").stdout == "1.2.3\n"


def test_become_user(web1):
    if shutil.which("sudo") is None:
        pytest.skip("sudo is not installed on the lab hosts (they share this machine's /usr)")
    assert web1.run("id -un", become=True, become_user="nobody").stdout == "nobody\n"
    assert web1.run("id -un", become=True).stdout == "root\n"


def test_become_root_as_root_needs_no_sudo(web1):
    assert web1.run("id -un", become=True).stdout == "root\n"


def test_one_transport_for_many_commands(lab_fleet):
    conn = lab_fleet.connection("web2")
    before = lab_fleet.host("web2").accepted_sessions()
    try:
        for i in range(30):
            assert conn.run(f"echo {i}").stdout == f"{i}\n"
        conn.put(b"x", "/srv/x")
        conn.get("/srv/x")
    finally:
        conn.close()
    assert lab_fleet.host("web2").accepted_sessions() - before == 1


def test_hosts_open_in_parallel(lab_fleet):
    conns = [lab_fleet.connection(name) for name in lab_fleet.hosts]
    with ThreadPoolExecutor(len(conns)) as pool:
        names = list(pool.map(lambda c: c.run("hostname").stdout.strip(), conns))
    for conn in conns:
        conn.close()
    assert names == list(lab_fleet.hosts)


def test_from_settings_with_proxy_jump_in_common_args(lab_fleet):
    web1, web2 = lab_fleet.host("web1"), lab_fleet.host("web2")
    settings = SimpleNamespace(
        name="web2",
        address=web2.address,
        port=22,
        user="root",
        ssh_key=str(lab_fleet.key),
        jump=None,
        known_hosts=None,
        ssh_common_args=f"-o ProxyJump=root@{web1.address}",
    )
    before = web1.accepted_sessions()
    conn = SSHConnection.from_settings(settings, known_hosts=[lab_fleet.known_hosts])
    conn.options = lab_fleet.ssh_options(known_hosts=(lab_fleet.known_hosts,))
    try:
        assert conn.run("hostname").stdout == "web2\n"
    finally:
        conn.close()
    assert web1.accepted_sessions() - before == 1


def test_jump_host_key_is_checked_too(lab_fleet, tmp_path: Path):
    web1, web2 = lab_fleet.host("web1"), lab_fleet.host("web2")
    only_web2 = tmp_path / "known_hosts"
    only_web2.write_text(web2.host_key_line() + "\n")
    conn = SSHConnection(
        "web2", hostname=web2.address, user="root", key_filename=str(lab_fleet.key),
        jump=f"root@{web1.address}", known_hosts=only_web2, options=lab_fleet.ssh_options(),
    )  # fmt: skip
    with pytest.raises(HostKeyError, match=rf"\({web1.address}:22\): unknown host key"):
        conn.run("true")


@pytest.mark.filterwarnings("ignore:Unknown ssh-ed25519 host key")  # testinfra's WarningPolicy
def test_host_state_with_testinfra(lab_fleet):
    conn = lab_fleet.connection("web3")
    conn.run("mkdir -p /srv/app && echo v1 > /srv/app/VERSION")
    conn.close()
    host = testinfra.get_host(
        f"paramiko://{lab_fleet.host('web3').address}", ssh_config=str(lab_fleet.ssh_config)
    )
    assert host.check_output("hostname") == "web3"
    assert host.file("/srv/app/VERSION").content_string == "v1\n"
    assert host.file("/srv/app").is_directory
    # /srv is private to each host: web1 does not see web3's file.
    assert lab_fleet.exec("web1", "test -e /srv/app/VERSION").returncode != 0


def test_options_default_is_strict():
    assert SSHOptions().accept_new_host_keys is False
