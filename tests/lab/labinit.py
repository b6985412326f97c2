"""pid 1 of one lab host's PID namespace: starts sshd -D, reaps every orphan at once.

Run as `labinit.py SSHD_ARGV...`. The machine's own pid 1 reaps orphans about
1.5 s late, which slows every "stop the old service, wait until it is gone"
on a lab host; this init reaps as soon as SIGCHLD arrives.

Signals: SIGUSR1 stops sshd (TERM), SIGUSR2 starts it again, SIGTERM ends the
host (the kernel then kills everything left in the namespace).
Standard library only, no site packages: it starts in a few milliseconds.
"""

import contextlib
import os
import signal
import sys
import time

sshd_argv = sys.argv[1:]
sshd_pid = 0
# A start asked for while the stopped sshd has not been reaped yet (its port
# closes before it exits): done as soon as it is reaped, or it would be lost.
start_pending = False


def start_sshd(*_args: object) -> None:
    global sshd_pid, start_pending
    if sshd_pid:
        start_pending = True
        return
    sshd_pid = os.posix_spawn(sshd_argv[0], sshd_argv, dict(os.environ))


def stop_sshd(*_args: object) -> None:
    global start_pending
    start_pending = False
    if sshd_pid:
        with contextlib.suppress(ProcessLookupError):
            os.kill(sshd_pid, signal.SIGTERM)


def main() -> None:
    global sshd_pid, start_pending
    signal.signal(signal.SIGUSR1, stop_sshd)
    signal.signal(signal.SIGUSR2, start_sshd)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    start_sshd()
    while True:
        try:
            pid, _status = os.wait()
        except ChildProcessError:
            # No child at all (sshd stopped): wait for SIGUSR2 without spinning.
            time.sleep(0.05)
            continue
        if pid == sshd_pid:
            sshd_pid = 0
            if start_pending:
                start_pending = False
                start_sshd()


if __name__ == "__main__":
    main()
