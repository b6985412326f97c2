"""How fast the executor is with nothing to wait for: 200 `debug` tasks on 50 local hosts.

Prints the wall time and tasks/s (task x host executions per second), then the
time of `deployplay --version`. A figure to watch, not an assertion.

    .venv/bin/python bench/bench_local.py [--tasks 200] [--hosts 50] [--forks 20]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def write_project(directory: Path, tasks: int, hosts: int) -> None:
    inventory = ["all:", "  hosts:"]
    inventory += [f"    host{i:03d}: {{ansible_connection: local}}" for i in range(hosts)]
    (directory / "inventory.yml").write_text("\n".join(inventory) + "\n")
    playbook = ["- hosts: all", "  gather_facts: false", "  tasks:"]
    for i in range(tasks):
        playbook += [
            f"    - name: step {i}",
            f'      debug: {{msg: "{{{{ inventory_hostname }}}} {i}"}}',
        ]
    (directory / "playbook.yml").write_text("\n".join(playbook) + "\n")


def deployplay() -> list[str]:
    return [sys.executable, "-m", "deployplay"]


def bench_run(tasks: int, hosts: int, forks: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        write_project(directory, tasks, hosts)
        command = [*deployplay(), "run", "playbook.yml", "-i", "inventory.yml", "-f", str(forks)]
        started = time.perf_counter()
        proc = subprocess.run(
            command, cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env={**os.environ, "NO_COLOR": "1"}, check=False,
        )  # fmt: skip
        elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"run failed ({proc.returncode}): {proc.stderr}")
    executions = tasks * hosts
    print(f"run: {tasks} debug tasks x {hosts} local hosts, forks {forks}: {elapsed:.2f}s wall, "
          f"{executions / elapsed:.0f} tasks/s")  # fmt: skip


def bench_version(repeat: int = 5) -> None:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([*deployplay(), "--version"], stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - started)
    print(f"deployplay --version: best {min(times):.3f}s of {repeat}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--forks", type=int, default=20)
    args = parser.parse_args()
    bench_run(args.tasks, args.hosts, args.forks)
    bench_version()


if __name__ == "__main__":
    main()
