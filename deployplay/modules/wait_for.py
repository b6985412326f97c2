"""wait_for: wait on the host until a port opens or closes, or a file appears or goes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from deployplay.modules._shell import quote
from deployplay.modules.base import Module, ModuleArgs, ModuleContext, ModuleResult

# How a port is probed from the host, decided once before the loop. bash's
# /dev/tcp needs nothing installed; timeout(1) bounds a connect to a host that
# drops packets. nc and python3 are the fallbacks for hosts without bash.
_PROBE = r"""
if command -v bash >/dev/null 2>&1; then
  if command -v timeout >/dev/null 2>&1; then
    probe() { timeout "$ct" bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$host" "$port" 2>/dev/null; }
  else
    probe() { bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$host" "$port" 2>/dev/null; }
  fi
elif command -v nc >/dev/null 2>&1; then
  probe() { nc -z -w "$ct" "$host" "$port" >/dev/null 2>&1; }
elif command -v python3 >/dev/null 2>&1; then
  probe() {
    python3 -c 'import socket, sys
socket.create_connection((sys.argv[1], int(sys.argv[2])), float(sys.argv[3])).close()' \
      "$host" "$port" "$ct" 2>/dev/null
  }
else
  echo "wait_for needs bash, nc or python3 on the host to probe a port" >&2; exit 3
fi
"""

_LOOP = r"""
start=$(date +%s)
while :; do
  if check; then echo "elapsed=$(( $(date +%s) - start ))"; exit 0; fi
  if [ $(( $(date +%s) - start )) -ge "$timeout" ]; then
    echo "elapsed=$(( $(date +%s) - start ))"; exit 1
  fi
  sleep "$pause"
done
"""


class WaitForArgs(ModuleArgs):
    host: str = Field("127.0.0.1", description="The address to probe, as seen from the host.")
    port: int | None = Field(None, description="The TCP port to wait for.")
    path: str | None = Field(None, description="A file on the host to wait for.")
    state: Literal["started", "stopped", "present", "absent"] = Field(
        "started",
        description="started/present: wait until the port accepts connections or the file "
        "exists; stopped: until the port refuses them; absent: until the file is gone.",
    )
    timeout: int = Field(300, description="Seconds to wait before failing.")
    delay: int = Field(0, description="Seconds to wait before the first check.")
    sleep: float = Field(1, description="Seconds between checks.")
    connect_timeout: int = Field(5, description="Seconds one connection attempt may take.")
    search_regex: str | None = Field(
        None, description="With path: also wait until the file matches this (grep -E) regex."
    )
    msg: str | None = Field(None, description="The message when the wait times out.")

    @model_validator(mode="after")
    def _consistent(self) -> WaitForArgs:
        if self.port is not None and self.path is not None:
            raise ValueError("port and path parameter can not both be passed to wait_for")
        if self.state == "stopped" and self.path is not None:
            raise ValueError("state=stopped should only be used for checking a port")
        if self.state == "absent" and self.port is not None:
            raise ValueError("state=absent is for a path; use state=stopped for a port")
        return self


class WaitFor(Module):
    """Wait on the host until a TCP port opens (or closes), or a file appears (or goes).

    The wait is one shell script on the host that checks every `sleep`
    seconds until it succeeds or `timeout` passes; a port is probed with bash's
    /dev/tcp (bounded by timeout(1)), else `nc -z`, else python3. With neither
    port nor path it just sleeps `timeout` seconds. Changes nothing, so it
    runs in check mode too. Use `delegate_to: localhost` to wait from the
    controller.

        - wait_for:
            port: 8080
            timeout: 60

        - wait_for:
            path: /srv/app/shared/log/app.log
            search_regex: "listening on"
    """

    name = "wait_for"
    Args = WaitForArgs
    supports_check_mode = True

    def run(self, ctx: ModuleContext, args: WaitForArgs) -> ModuleResult:
        data: dict[str, Any] = {"state": args.state, "port": args.port, "path": args.path}
        if args.search_regex is not None:
            data["search_regex"] = args.search_regex
        # Leave the connection room for the whole wait, so that our loop, not it, decides.
        budget = args.delay + args.timeout + args.connect_timeout + args.sleep + 30
        result = ctx.run(_script(args), timeout=budget)
        elapsed = _elapsed(result.stdout)
        data["elapsed"] = elapsed
        if result.exit_code == 0:
            return ModuleResult(msg=f"{_what(args)} after {elapsed}s", data=data)
        if result.exit_code == 1 and elapsed is not None:
            return ModuleResult(failed=True, msg=args.msg or _timeout_msg(args), data=data)
        detail = result.stderr.strip() or f"exit code {result.exit_code}"
        return ModuleResult(failed=True, msg=f"wait_for could not run: {detail}", data=data)


def _script(args: WaitForArgs) -> str:
    lines = [
        f"host={quote(args.host)}",
        f"port={quote(str(args.port or 0))}",
        f"path={quote(args.path or '')}",
        f"regex={quote(args.search_regex or '')}",
        f"timeout={int(args.timeout)}",
        f"pause={quote(format(args.sleep, 'g'))}",
        f"ct={int(args.connect_timeout)}",
    ]
    if args.delay > 0:
        lines.append(f"sleep {int(args.delay)}")
    if args.port is None and args.path is None:
        # Ansible's wait_for with nothing to wait for is a plain sleep.
        return "\n".join([*lines, 'start=$(date +%s); sleep "$timeout"', "echo elapsed=$timeout"])
    if args.port is not None:
        lines.append(_PROBE)
        check = "probe" if args.state in ("started", "present") else "! probe"
    elif args.state == "absent":
        check = '[ ! -e "$path" ]'
    else:
        check = '[ -e "$path" ] && { [ -z "$regex" ] || grep -Eq -- "$regex" "$path"; }'
    lines.append(f"check() {{ {check}; }}")
    lines.append(_LOOP)
    return "\n".join(lines)


def _elapsed(stdout: str) -> int | None:
    for line in stdout.splitlines():
        if line.startswith("elapsed=") and line[8:].isdigit():
            return int(line[8:])
    return None


def _what(args: WaitForArgs) -> str:
    if args.port is not None:
        where = f"{args.host}:{args.port}"
        return f"{where} is open" if args.state in ("started", "present") else f"{where} is closed"
    if args.path is not None:
        return f"{args.path} is gone" if args.state == "absent" else f"{args.path} is there"
    return "waited"


def _timeout_msg(args: WaitForArgs) -> str:
    if args.port is not None:
        if args.state == "stopped":
            return f"Timeout when waiting for {args.host}:{args.port} to stop."
        return f"Timeout when waiting for {args.host}:{args.port}"
    if args.state == "absent":
        return f"Timeout when waiting for {args.path} to be absent."
    if args.search_regex:
        return f"Timeout when waiting for search string {args.search_regex} in {args.path}"
    return f"Timeout when waiting for file {args.path}"
