"""A lab of real SSH hosts on this machine: network namespaces on a private bridge.

Each host is a network namespace with a veth on the lab's own bridge and a
10.x.y.0/24 subnet that collides with no existing route, its own sshd and
host key, hostname (UTS namespace), private tmpfs /srv and /root (mount namespace) and
a PID namespace whose pid 1 (labinit.py) reaps orphans at once. A client key
authorised on every host, a known_hosts file and a deployplay inventory file
come with it.

Everything is named `dpl-<lab id>-...`; a lab records its owner's pid, and a
new lab first removes leftovers of labs whose owner is gone (a crashed run).
Processes are stopped by pid only: each host's `unshare` (which takes its
namespace down with it, --kill-child) is ours, and dies with us (PDEATHSIG).
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lab.net import (
    PREFIX,
    child_of,
    clear_stale,
    die_with_parent,
    free_subnet,
    init_python,
    locked,
    new_id,
    owner_mark,
    port_open,
    remove_lab,
    sh,
)

STATE_ROOT = Path("/tmp/dpl-lab")
SSHD = "/usr/sbin/sshd"
INIT = Path(__file__).with_name("labinit.py")
WAIT_S = 15.0


def lab_unavailable() -> str | None:
    """Why the lab cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "the SSH lab needs root (network namespaces)"
    for tool in ("ip", "unshare", "nsenter", "ssh-keygen", "hostname", "mount"):
        if shutil.which(tool) is None:
            return f"the SSH lab needs {tool!r} (iproute2 / util-linux / openssh-client)"
    if not os.access(SSHD, os.X_OK):
        return f"the SSH lab needs {SSHD} (apt-get install openssh-server)"
    return None


@dataclass
class LabHost:
    """One lab host. `address` is where its sshd listens (port 22)."""

    name: str
    ns: str
    veth: str
    address: str
    dir: Path
    host_key: Path
    process: subprocess.Popen[bytes] | None = None
    init_pid: int = 0

    @property
    def sshd_log(self) -> Path:
        return self.dir / "sshd.log"

    def accepted_sessions(self) -> int:
        """How many SSH logins this host's sshd has accepted (its log, LogLevel VERBOSE)."""
        try:
            return self.sshd_log.read_text(errors="replace").count("Accepted publickey")
        except FileNotFoundError:
            return 0

    def host_key_line(self) -> str:
        kind, blob = (self.dir / "host_key.pub").read_text().split()[:2]
        return f"{self.address} {kind} {blob}"


@dataclass
class Lab:
    """N hosts; `start()` builds them, `stop()` removes every trace (safe to call twice)."""

    names: list[str]
    root: Path = STATE_ROOT
    lab_id: str = ""
    subnet: ipaddress.IPv4Network | None = None
    hosts: dict[str, LabHost] = field(default_factory=dict)
    _stopped: bool = False

    @classmethod
    def of(cls, count: int = 3, prefix: str = "web") -> Lab:
        return cls([f"{prefix}{i}" for i in range(1, count + 1)])

    # -- paths and views ----------------------------------------------------

    @property
    def dir(self) -> Path:
        return self.root / self.lab_id

    @property
    def key(self) -> Path:
        """The client's private key, authorised for root on every host."""
        return self.dir / "client_key"

    @property
    def known_hosts(self) -> Path:
        return self.dir / "known_hosts"

    @property
    def inventory(self) -> Path:
        return self.dir / "inventory.yml"

    @property
    def ssh_config(self) -> Path:
        """An ssh_config for OpenSSH, testinfra and friends: `ssh -F lab.ssh_config web1`."""
        return self.dir / "ssh_config"

    @property
    def bridge(self) -> str:
        return f"{PREFIX}{self.lab_id}-br"

    @property
    def gateway(self) -> str:
        assert self.subnet is not None
        return str(self.subnet.network_address + 1)

    def host(self, name: str) -> LabHost:
        return self.hosts[name]

    def unused_address(self) -> str:
        """An address in the lab's subnet where nothing listens (for 'no host there' tests)."""
        assert self.subnet is not None
        return str(self.subnet.network_address + 250)

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> Lab:
        reason = lab_unavailable()
        if reason:
            raise RuntimeError(reason)
        atexit.register(self.stop)
        self.root.mkdir(parents=True, exist_ok=True)
        with locked(self.root / ".lock"):
            clear_stale(self.root)
            self.lab_id = new_id(self.root)
            self.dir.mkdir(mode=0o700)
            (self.dir / "owner").write_text(owner_mark(os.getpid()))
            self.subnet = free_subnet()
            self._build_network()
        try:
            self._make_keys()
            for host in self.hosts.values():
                self._spawn(host)
            for host in self.hosts.values():
                self.wait_port(host.name, open_=True)
            self._write_client_files()
        except BaseException:
            self.stop()
            raise
        return self

    def _build_network(self) -> None:
        assert self.subnet is not None
        hosts = list(self.subnet.hosts())
        root_cmds = [
            f"link add {self.bridge} type bridge",
            f"addr add {self.gateway}/{self.subnet.prefixlen} dev {self.bridge}",
            f"link set {self.bridge} up",
        ]
        for i, name in enumerate(self.names, start=1):
            ns = f"{PREFIX}{self.lab_id}-{i}"
            host = LabHost(
                name, ns, ns, str(hosts[i]), self.dir / name, self.dir / name / "host_key"
            )
            self.hosts[name] = host
            root_cmds += [
                f"netns add {ns}",
                f"link add {host.veth} type veth peer name eth0 netns {ns}",
                f"link set {host.veth} master {self.bridge} up",
            ]
        sh("ip", "-batch", "-", stdin="\n".join(root_cmds) + "\n")
        for host in self.hosts.values():
            ns_cmds = [
                f"addr add {host.address}/{self.subnet.prefixlen} dev eth0",
                "link set eth0 up",
                "link set lo up",
            ]
            sh("ip", "-n", host.ns, "-batch", "-", stdin="\n".join(ns_cmds) + "\n")

    def _make_keys(self) -> None:
        sh(
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            f"dpl-lab-{self.lab_id}",
            "-f",
            str(self.key),
        )
        authorized = self.dir / "authorized_keys"
        authorized.write_text(self.key.with_suffix(".pub").read_text())
        for host in self.hosts.values():
            host.dir.mkdir()
            sh(
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                host.name,
                "-f",
                str(host.host_key),
            )
            (host.dir / "host_key.pub").write_text(host.host_key.with_suffix(".pub").read_text())
            (host.dir / "sshd_config").write_text(_sshd_config(host, authorized))

    def _spawn(self, host: LabHost) -> None:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
        sshd = [SSHD, "-D", "-f", str(host.dir / "sshd_config"), "-E", str(host.sshd_log)]
        python = init_python()
        # A fresh /root too: the controller's dotfiles (a slow .bashrc) are not the host's.
        fresh_root = (
            "" if python.startswith("/root/") else "mount -t tmpfs -o mode=0700 dpl-root /root && "
        )
        inner = (
            f"hostname {host.name} && mount -t tmpfs -o mode=0755,size=512m dpl-srv /srv && "
            f"{fresh_root}exec {python} -I -S {INIT} {' '.join(sshd)}"
        )
        namespaces = ["--uts", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc"]
        argv = ["ip", "netns", "exec", host.ns, "unshare", *namespaces]
        argv += ["--propagation", "private", "sh", "-c", inner]
        log = (host.dir / "init.log").open("wb")
        # Own session: a Ctrl-C at the terminal reaches pytest, whose teardown stops the lab.
        host.process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            preexec_fn=die_with_parent, start_new_session=True,
        )  # fmt: skip
        log.close()
        try:
            host.init_pid = child_of(host.process.pid)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}: {(host.dir / 'init.log').read_text()[-500:]}") from None

    def _write_client_files(self) -> None:
        self.known_hosts.write_text("".join(h.host_key_line() + "\n" for h in self.hosts.values()))
        hosts = {
            h.name: {
                "host": h.address,
                "port": 22,
                "user": "root",
                "ssh_key": str(self.key),
                "known_hosts": str(self.known_hosts),
            }
            for h in self.hosts.values()
        }
        self.ssh_config.write_text("".join(_ssh_config_entry(h, self) for h in self.hosts.values()))
        inventory = {"all": {"hosts": hosts, "children": {"lab": {"hosts": dict.fromkeys(hosts)}}}}
        self.inventory.write_text(yaml.safe_dump(inventory, sort_keys=False))

    def stop(self) -> None:
        """Kill this lab's processes (by pid), delete its namespaces, links and files."""
        if self._stopped or not self.lab_id:
            return
        self._stopped = True
        for host in self.hosts.values():
            if host.process is not None and host.process.poll() is None:
                host.process.kill()  # unshare --kill-child takes the host's PID namespace down
                with contextlib.suppress(subprocess.TimeoutExpired):
                    host.process.wait(timeout=WAIT_S)
        remove_lab(self.root, self.lab_id)

    # -- fault helpers ----------------------------------------------------------

    def take_down(self, name: str) -> None:
        """Take a host off the network: its link on the bridge goes down, packets are dropped."""
        sh("ip", "link", "set", self.hosts[name].veth, "down")

    def bring_up(self, name: str) -> None:
        sh("ip", "link", "set", self.hosts[name].veth, "up")

    def stop_sshd(self, name: str) -> None:
        """Stop the host's sshd listener (sessions already open go on, as with systemctl stop)."""
        os.kill(self.hosts[name].init_pid, signal.SIGUSR1)
        self.wait_port(name, open_=False)

    def start_sshd(self, name: str) -> None:
        os.kill(self.hosts[name].init_pid, signal.SIGUSR2)
        self.wait_port(name, open_=True)

    def wait_port(self, name: str, *, open_: bool, timeout: float = WAIT_S) -> None:
        address = self.hosts[name].address
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if port_open(address, 22) == open_:
                return
            time.sleep(0.02)
        state = "open" if open_ else "closed"
        raise TimeoutError(f"lab host {name}: port 22 not {state} after {timeout:g}s")

    def exec(self, name: str, command: str) -> subprocess.CompletedProcess[str]:
        """Run a shell command inside a host's namespaces, without SSH (test set-up, inspection)."""
        pid = str(self.hosts[name].init_pid)
        return sh(
            "nsenter",
            "-t",
            pid,
            "-n",
            "-m",
            "-u",
            "-p",
            "--",
            "/bin/sh",
            "-c",
            command,
            check=False,
        )

    # -- clients ------------------------------------------------------------------

    def ssh_options(self, **overrides: object) -> object:
        """SSHOptions that never touch the real ~/.ssh/known_hosts."""
        from deployplay.runner.connections.ssh import SSHOptions

        values: dict[str, object] = {"user_known_hosts": self.dir / "user_known_hosts"}
        values.update(overrides)
        return SSHOptions(**values)  # type: ignore[arg-type]

    def connection(
        self, name: str, *, known_hosts: Path | None = None, **options: object
    ) -> object:
        """An SSHConnection to a lab host as root with the lab key (not opened yet)."""
        from deployplay.runner.connections.ssh import SSHConnection

        host = self.hosts[name]
        return SSHConnection(
            name,
            hostname=host.address,
            port=22,
            user="root",
            key_filename=str(self.key),
            known_hosts=known_hosts if known_hosts is not None else self.known_hosts,
            options=self.ssh_options(**options),  # type: ignore[arg-type]
        )


def _ssh_config_entry(host: LabHost, lab: Lab) -> str:
    return (
        f"Host {host.name} {host.address}\n  HostName {host.address}\n  User root\n"
        f"  IdentityFile {lab.key}\n  IdentitiesOnly yes\n  UserKnownHostsFile {lab.known_hosts}\n"
        "  StrictHostKeyChecking yes\n  BatchMode yes\n\n"
    )


def _sshd_config(host: LabHost, authorized: Path) -> str:
    return "\n".join(
        [
            f"ListenAddress {host.address}",
            "Port 22",
            f"HostKey {host.host_key}",
            f"AuthorizedKeysFile {authorized}",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",  # the lab lives under /tmp, which is world-writable
            "LogLevel VERBOSE",
            f"PidFile {host.dir / 'sshd.pid'}",
            "Subsystem sftp internal-sftp",
            "MaxSessions 200",
            "MaxStartups 200",
            "UseDNS no",
            "",
        ]
    )
