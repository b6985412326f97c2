"""FakeConnection: scripted answers, recorded calls, files, and the failures it can raise."""

from __future__ import annotations

import io

import pytest

from deployplay.errors import CommandTimeout, UnreachableError
from deployplay.runner.connections.base import Connection
from deployplay.runner.connections.fake import FakeCall, FakeConnection
from deployplay.runner.results import CommandResult


def test_it_is_a_connection_with_a_quiet_default() -> None:
    fake = FakeConnection("web1")
    assert isinstance(fake, Connection)
    result = fake.run("uptime")
    assert (result.command, result.exit_code, result.stdout, result.stderr) == ("uptime", 0, "", "")
    custom = FakeConnection("web2", default=CommandResult("", 1, "", "nope"))
    assert (custom.run("x").exit_code, custom.run("x").stderr) == (1, "nope")


def test_rules_match_in_order_and_can_run_out() -> None:
    fake = FakeConnection("web1")
    fake.on(r"^systemctl restart", exit_code=1, stderr="unit not found", times=1)
    fake.on(r"^systemctl", stdout="active\n")
    first = fake.run("systemctl restart app")
    assert (first.exit_code, first.stderr) == (1, "unit not found")
    assert fake.run("systemctl restart app").stdout == "active\n"
    assert fake.run("systemctl is-active app").stdout == "active\n"
    assert fake.run("ls").stdout == ""


def test_it_records_every_call_with_its_options() -> None:
    fake = FakeConnection("web1")
    fake.run("cat", env={"A": "1"}, cwd="/srv", timeout=5, stdin=io.BytesIO(b"data"), become=True)
    fake.put(b"content", "/srv/f", mode=0o600)
    assert fake.get("/srv/f") == b"content"
    fake.close()
    assert [call.kind for call in fake.calls] == ["run", "put", "get", "close"]
    run = fake.calls[0]
    assert run == FakeCall(
        "run",
        "cat",
        {
            "env": {"A": "1"},
            "cwd": "/srv",
            "timeout": 5,
            "stdin": b"data",
            "become": True,
            "become_user": None,
        },
    )
    assert fake.commands() == ["cat"]
    assert fake.modes == {"/srv/f": 0o600}
    assert fake.closed


def test_put_from_a_local_file_and_get_of_a_missing_one(tmp_path) -> None:
    local = tmp_path / "release.tar"
    local.write_bytes(b"tar")
    fake = FakeConnection("web1", files={"/etc/hostname": b"web1\n"})
    fake.put(local, "/tmp/release.tar")
    assert fake.files["/tmp/release.tar"] == b"tar"
    assert fake.get("/etc/hostname") == b"web1\n"
    with pytest.raises(FileNotFoundError, match="/nope"):
        fake.get("/nope")


def test_it_raises_unreachable_and_timeouts_when_told() -> None:
    fake = FakeConnection("web1")
    fake.timeout_on(r"sleep", times=1)
    fake.unreachable_on(r"^reboot")
    with pytest.raises(CommandTimeout):
        fake.run("sleep 100")
    assert fake.run("sleep 100").ok
    with pytest.raises(UnreachableError, match="web1"):
        fake.run("reboot now")
    fake.on("boom", raises=RuntimeError("scripted bug"))
    with pytest.raises(RuntimeError):
        fake.run("boom")
    fake.unreachable = True
    with pytest.raises(UnreachableError):
        fake.put(b"x", "/x")
    assert len(fake.calls) == 5  # failed calls are recorded too
