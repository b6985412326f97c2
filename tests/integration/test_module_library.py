"""A module library installed as a package (examples/acme-deploy-modules) works in a playbook.

The package is installed into a directory of its own (`pip install --target`)
and put on PYTHONPATH for the deployplay runs, so the shared venv, and every
other test's module list, stays as it was. pip builds it offline
(`--no-build-isolation`, `--no-deps`) with the venv's setuptools; where that
setuptools cannot build wheels by itself (before 70.1 it needs the `wheel`
package), the test lays the package out as pip would (the code plus a
dist-info with the pyproject's entry points), so what is checked is the same:
the `deployplay.modules` entry point declared in the pyproject is found,
listed, documented and runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "examples" / "acme-deploy-modules"
BIN = Path(sys.executable).parent
DEPLOYPLAY = [str(BIN / "deployplay")] if (BIN / "deployplay").exists() else [
    sys.executable, "-m", "deployplay"
]  # fmt: skip


def lay_out_like_pip(target: Path) -> None:
    """What `pip install --target` leaves for this pure-Python package: code + dist-info."""
    project = tomllib.loads((LIBRARY / "pyproject.toml").read_text())["project"]
    shutil.copytree(LIBRARY / "src" / "acme_deploy_modules", target / "acme_deploy_modules")
    dist = target / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    lines = []
    for group, entries in project["entry-points"].items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {value}" for name, value in entries.items()]
    (dist / "entry_points.txt").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def library_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"]
    result = subprocess.run(
        [*pip, "--no-index", "--target", str(target), str(LIBRARY)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if result.returncode != 0:
        assert "bdist_wheel" in result.stderr + result.stdout, result.stderr
        shutil.rmtree(target)
        target.mkdir()
        lay_out_like_pip(target)
    assert list(target.glob("acme_deploy_modules-*.dist-info"))
    return target


def deployplay(args: list[str], cwd: Path, site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site), "NO_COLOR": "1"}
    env.pop("DEPLOYPLAY_MODULE_PATH", None)
    return subprocess.run(
        [*DEPLOYPLAY, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_library_module_is_listed_and_documented(library_path, tmp_path):
    listing = deployplay(["modules"], tmp_path, library_path)
    assert listing.returncode == 0, listing.stderr
    line = next(x for x in listing.stdout.splitlines() if x.startswith("acme_notify"))
    assert "entry point acme-deploy-modules" in line
    doc = deployplay(["doc", "acme_notify"], tmp_path, library_path)
    assert doc.returncode == 0, doc.stderr
    assert "webhook_url" in doc.stdout and "outbox" in doc.stdout


def test_a_playbook_uses_the_library_module(library_path, tmp_path):
    outbox = tmp_path / "outbox" / "notifications.jsonl"
    playbook = tmp_path / "notify.yml"
    playbook.write_text(
        "- hosts: localhost\n"
        "  vars: {version: 1.2.3}\n"
        "  tasks:\n"
        "    - name: Tell the team\n"
        "      acme_notify:\n"
        "        channel: '#releases'\n"
        "        text: 'hello-service {{ version }} is live on {{ inventory_hostname }}'\n"
        f"        outbox: {outbox}\n"
    )
    result = deployplay(["run", str(playbook)], tmp_path, library_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "changed: [localhost]" in result.stdout
    messages = [json.loads(line) for line in outbox.read_text().splitlines()]
    assert len(messages) == 1
    assert messages[0]["channel"] == "#releases"
    assert messages[0]["text"] == "hello-service 1.2.3 is live on localhost"

    check = deployplay(["run", str(playbook), "--check"], tmp_path, library_path)
    assert check.returncode == 0, check.stdout + check.stderr
    assert len(outbox.read_text().splitlines()) == 1  # check mode sent nothing


def test_a_misspelt_library_argument_is_caught_before_running(library_path, tmp_path):
    playbook = tmp_path / "bad.yml"
    playbook.write_text(
        "- hosts: localhost\n  tasks:\n    - acme_notify: {text: hi, outbx: /tmp/x}\n"
    )
    result = deployplay(["run", str(playbook)], tmp_path, library_path)
    assert result.returncode == 3
    assert "outbx" in result.stderr and "outbox" in result.stderr


def test_the_library_module_posts_to_a_webhook(library_path, tmp_path):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        playbook = tmp_path / "hook.yml"
        playbook.write_text(
            "- hosts: localhost\n  tasks:\n"
            f"    - acme_notify: {{text: deployed, channel: '#ops', webhook_url: '{url}'}}\n"
        )
        result = deployplay(["run", str(playbook)], tmp_path, library_path)
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.stdout + result.stderr
    assert [(m["channel"], m["text"], m["host"]) for m in received] == [
        ("#ops", "deployed", "localhost")
    ]
