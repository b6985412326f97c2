"""SSH hot-path benchmark on lab hosts (network namespaces with sshd, built by tests/lab).

    sudo .venv/bin/python bench/bench_ssh.py [--hosts 50] [--latency-runs 200] [--tasks 20]

Measures, after the connections are up:
- latency of one command on one host: SSHConnection (straight on the paramiko
  transport), Fabric's invoke runner on the same transport, and OpenSSH with
  ControlMaster sending the same command; the ratio to ControlMaster;
- controller CPU per task per host at 10 and at N hosts (time.process_time
  deltas around tasks run on every host through a pool of --forks threads);
- connection set-up for N hosts at once, in seconds.
Aims: <= 1.3x ControlMaster latency, <= 4 ms controller CPU per task per host.
Traffic goes only to the lab's own addresses; every loop is bounded.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from lab import Lab, lab_unavailable

from deployplay.runner.connections.ssh import SSHConnection

COMMAND = "echo ok"


def per_call(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """(median wall ms, mean controller CPU ms) of `fn`, after one warm-up call."""
    fn()
    walls = []
    cpu = time.process_time()
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        walls.append((time.perf_counter() - started) * 1000)
    return statistics.median(walls), (time.process_time() - cpu) * 1000 / runs


def fabric_run(conn: SSHConnection) -> Callable[[], object]:
    fab = conn.fabric
    return lambda: fab.run(COMMAND, hide=True, warn=True, in_stream=False)


def controlmaster_run(lab: Lab, name: str) -> tuple[Callable[[], object], list[str]]:
    base = ["ssh", "-F", str(lab.ssh_config), "-o", "ControlMaster=auto"]
    base += ["-o", f"ControlPath={lab.dir}/cm-%C", "-o", "ControlPersist=60", name]

    def once() -> object:
        return subprocess.run([*base, COMMAND], capture_output=True, check=True, timeout=30)

    return once, base


def latency(lab: Lab, conn: SSHConnection, runs: int) -> dict[str, float]:
    direct_ms, direct_cpu = per_call(lambda: conn.run(COMMAND), runs)
    fabric_ms, fabric_cpu = per_call(fabric_run(conn), runs)
    cm_once, cm_base = controlmaster_run(lab, "h1")
    try:
        cm_ms, _ = per_call(cm_once, runs)
    finally:
        subprocess.run([*cm_base[:-1], "-O", "exit", "h1"], capture_output=True, timeout=30)
    return {
        "direct_ms": direct_ms,
        "direct_cpu_ms": direct_cpu,
        "fabric_runner_ms": fabric_ms,
        "fabric_runner_cpu_ms": fabric_cpu,
        "controlmaster_ms": cm_ms,
        "ratio_direct_to_controlmaster": direct_ms / cm_ms,
        "ratio_fabric_to_controlmaster": fabric_ms / cm_ms,
    }


def cpu_per_task_per_host(
    conns: list[SSHConnection], tasks: int, forks: int, runner: str
) -> tuple[float, float]:
    """(controller CPU ms per task per host, wall s per task) for `tasks` tasks on all hosts."""
    calls = {
        "direct": lambda c: c.run(COMMAND),
        "fabric": lambda c: c.fabric.run(COMMAND, hide=True, warn=True, in_stream=False),
    }
    call = calls[runner]
    with ThreadPoolExecutor(min(forks, len(conns))) as pool:
        list(pool.map(call, conns))  # warm-up
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(tasks):
            # Linear strategy: a task runs on every host; the next starts when all answered.
            list(pool.map(call, conns))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu * 1000 / (tasks * len(conns)), wall / tasks


def connect_all(lab: Lab) -> tuple[dict[str, SSHConnection], float]:
    conns = {name: lab.connection(name) for name in lab.hosts}
    started = time.perf_counter()
    with ThreadPoolExecutor(len(conns)) as pool:
        list(pool.map(lambda c: c.open(), conns.values()))
    return conns, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--latency-runs", type=int, default=200)
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--forks", type=int, default=20)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    reason = lab_unavailable()
    if reason:
        print(f"bench_ssh: skipped: {reason}")
        return 0
    started = time.perf_counter()
    lab = Lab.of(args.hosts, prefix="h").start()
    figures: dict[str, object] = {"hosts": args.hosts, "lab_setup_s": time.perf_counter() - started}
    try:
        alone = lab.connection("h1")
        figures["latency_one_transport"] = latency(lab, alone, args.latency_runs)
        alone.close()
        before = {name: lab.host(name).accepted_sessions() for name in lab.hosts}
        conns, figures["connect_all_s"] = connect_all(lab)
        figures["cpu_per_task_per_host_ms"] = {
            f"{runner}@{n}": cpu_per_task_per_host(
                list(conns.values())[:n], args.tasks, args.forks, runner
            )[0]
            for runner in ("direct", "fabric")
            for n in sorted({min(10, args.hosts), args.hosts})
        }
        logins = {lab.host(name).accepted_sessions() - before[name] for name in lab.hosts}
        figures["ssh_logins_per_host"] = sorted(logins)
        figures["latency"] = latency(lab, conns["h1"], args.latency_runs)
        for conn in conns.values():
            conn.close()
    finally:
        lab.stop()
    report(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


def report(figures: dict[str, object]) -> None:
    print(f"lab set-up, {figures['hosts']} hosts:        {figures['lab_setup_s']:.2f} s")
    print(f"connection set-up, {figures['hosts']} at once:  {figures['connect_all_s']:.2f} s")
    for key, when in (("latency_one_transport", "only its"), ("latency", "all")):
        print(f"latency, one host ({COMMAND!r}), {when} transport(s) open, median:")
        report_latency(figures[key])  # type: ignore[arg-type]
    print("controller CPU per task per host:")
    cpu = figures["cpu_per_task_per_host_ms"]
    assert isinstance(cpu, dict)
    for key, value in cpu.items():
        print(f"  {key:<12} {value:.2f} ms")
    print(f"SSH logins per host for all the CPU tasks: {figures['ssh_logins_per_host']}")


def report_latency(lat: dict[str, float]) -> None:
    print(f"  SSHConnection (paramiko transport): {lat['direct_ms']:.2f} ms")
    print(f"  Fabric/invoke runner:               {lat['fabric_runner_ms']:.2f} ms")
    print(f"  OpenSSH ControlMaster:              {lat['controlmaster_ms']:.2f} ms")
    print(f"  ratio SSHConnection / ControlMaster: {lat['ratio_direct_to_controlmaster']:.2f}x")
    print(f"  ratio Fabric runner / ControlMaster: {lat['ratio_fabric_to_controlmaster']:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
