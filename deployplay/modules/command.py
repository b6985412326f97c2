"""command: run a program on the host, without a shell (as Ansible's command module)."""

from __future__ import annotations

import secrets
import shlex
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import Field, field_validator, model_validator

from deployplay.modules._shell import glob_exists_test, quote, quote_expanding
from deployplay.modules.base import Module, ModuleArgs, ModuleContext, ModuleResult
from deployplay.runner.results import CommandResult

NONZERO_MSG = "The command exited with a non-zero return code."
CHDIR_MSG = "Unable to change directory before execution."
CHECK_MSG = "Command would have run if not in check mode"


@dataclass(frozen=True, slots=True)
class Invocation:
    """What command and shell share: the shell text to exec and the guards around it."""

    exec_text: str  # what follows `exec` on the host
    display: Any  # the `cmd` value registered: argv list (command) or string (shell)
    chdir: str | None
    creates: str | None
    removes: str | None
    stdin: str | None
    stdin_add_newline: bool
    strip_empty_ends: bool


def run_invocation(ctx: ModuleContext, inv: Invocation) -> ModuleResult:
    """Run one command on the host in a single remote script: chdir, creates/removes, exec."""
    nonce = secrets.token_hex(6)
    markers = {
        "creates": f"__deployplay_creates_{nonce}__",
        "removes": f"__deployplay_removes_{nonce}__",
        "chdir": f"__deployplay_chdir_{nonce}__",
    }
    lines = _guards(inv, markers)
    data: dict[str, Any] = {"cmd": inv.display, "rc": None, "stdout": "", "stderr": ""}
    data.update(start=None, end=None, delta=None, stdout_lines=[], stderr_lines=[])
    if ctx.check_mode and not (inv.creates or inv.removes):
        # Nothing to decide without running it: Ansible skips the command in check mode.
        return ModuleResult(skipped=True, msg=CHECK_MSG, data={**data, "rc": 0})
    lines.append("exit 0" if ctx.check_mode else f"exec {inv.exec_text}")
    stdin = None
    if inv.stdin is not None:
        stdin = (inv.stdin + ("\n" if inv.stdin_add_newline else "")).encode()
    started = datetime.now()
    result = ctx.run("\n".join(lines), stdin=stdin)
    ended = datetime.now()
    for guard in ("creates", "removes"):
        if result.stdout.strip() == markers[guard]:
            return _skipped_by(guard, getattr(inv, guard), ctx.check_mode, data)
    if markers["chdir"] in result.stderr:
        stderr = result.stderr.replace(markers["chdir"], "").strip()
        data.update(rc=result.exit_code, stderr=stderr, stderr_lines=stderr.splitlines())
        return ModuleResult(failed=True, msg=f"{CHDIR_MSG} {inv.chdir}: {stderr}", data=data)
    if ctx.check_mode:
        return ModuleResult(changed=True, msg=CHECK_MSG, data={**data, "rc": 0})
    return _ran(inv, result, started, ended, data)


def _guards(inv: Invocation, markers: dict[str, str]) -> list[str]:
    """The script lines before the command: chdir, then the creates/removes tests.

    Each prints its marker and stops, so that one remote command both decides and runs.
    """
    lines = []
    if inv.chdir:
        lines.append(f"cd -- {quote(inv.chdir)} || {{ echo {markers['chdir']} >&2; exit 1; }}")
    if inv.creates:
        exists = glob_exists_test(inv.creates)
        lines.append(f"if {exists}; then echo {markers['creates']}; exit 0; fi")
    if inv.removes:
        exists = glob_exists_test(inv.removes)
        lines.append(f"if ! {exists}; then echo {markers['removes']}; exit 0; fi")
    return lines


def _ran(
    inv: Invocation,
    result: CommandResult,
    started: datetime,
    ended: datetime,
    data: dict[str, Any],
) -> ModuleResult:
    """The result of a command that ran, in the shape Ansible registers."""
    stdout, stderr = result.stdout, result.stderr
    if inv.strip_empty_ends:
        stdout, stderr = stdout.rstrip("\r\n"), stderr.rstrip("\r\n")
    data.update(
        rc=result.exit_code,
        stdout=stdout,
        stderr=stderr,
        stdout_lines=stdout.splitlines(),
        stderr_lines=stderr.splitlines(),
        start=str(started),
        end=str(ended),
        delta=str(ended - started),
    )
    if result.exit_code != 0:
        return ModuleResult(changed=True, failed=True, msg=NONZERO_MSG, data=data)
    return ModuleResult(changed=True, data=data)


def _skipped_by(
    guard: str, path: str | None, check_mode: bool, data: dict[str, Any]
) -> ModuleResult:
    verb = "Would" if check_mode else "Did"
    if guard == "creates":
        msg = f"{verb} not run command since '{path}' exists"
        stdout = f"skipped, since {path} exists"
    else:
        msg = f"{verb} not run command since '{path}' does not exist"
        stdout = f"skipped, since {path} does not exist"
    return ModuleResult(msg=msg, data={**data, "rc": 0, "stdout": stdout, "stdout_lines": [stdout]})


class CommandArgs(ModuleArgs):
    cmd: str | None = Field(
        None, description="The command line; split like a shell would, but run without one."
    )
    argv: list[str] | None = Field(None, description="The command as a list of arguments.")
    chdir: str | None = Field(None, description="Change into this directory on the host first.")
    creates: str | None = Field(
        None, description="A path or glob; when it exists, the command is not run."
    )
    removes: str | None = Field(
        None, description="A path or glob; when it does not exist, the command is not run."
    )
    stdin: str | None = Field(None, description="Text fed to the command's standard input.")
    expand_argument_vars: bool = Field(
        True, description="Expand `~` and `$VAR` in the arguments on the host."
    )
    stdin_add_newline: bool = Field(True, description="Append a newline to stdin.")
    strip_empty_ends: bool = Field(
        True, description="Strip trailing newlines from stdout and stderr."
    )

    @field_validator("argv", mode="before")
    @classmethod
    def _words_as_text(cls, value: Any) -> Any:
        # `argv: [sleep, 1]`: YAML numbers are words of the command like any other.
        if isinstance(value, list):
            return [str(word) if isinstance(word, int | float) else word for word in value]
        return value

    @model_validator(mode="after")
    def _one_command(self) -> CommandArgs:
        given = [name for name in ("cmd", "argv") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of cmd (or a free-form command) or argv")
        return self


class Command(Module):
    """Run a program on the host, without a shell.

    The arguments are passed to the program as they are: `|`, `>`, `;` and `*`
    are not special (use `shell` for those). `~` and `$VAR` are expanded, as
    in Ansible. The task is `changed` whenever the command runs; `creates` and
    `removes` make it idempotent. A non-zero exit code fails the task, with rc,
    stdout and stderr registered. In check mode it is skipped unless
    `creates`/`removes` decide that it would not run.

        - name: Run the migrations once
          command: ./manage.py migrate --noinput
          args:
            chdir: /srv/app/current
            creates: /srv/app/shared/.migrated

        - command:
            argv: [systemctl, is-active, nginx]
          register: nginx_state
          changed_when: false
    """

    name = "command"
    Args = CommandArgs
    supports_check_mode = True
    free_form = "cmd"

    def run(self, ctx: ModuleContext, args: CommandArgs) -> ModuleResult:
        try:
            argv = args.argv if args.argv is not None else shlex.split(args.cmd or "")
        except ValueError as error:  # an unbalanced quote
            return ModuleResult(failed=True, msg=f"cannot split {args.cmd!r}: {error}")
        if not argv:
            return ModuleResult(failed=True, msg="no command given", data={"cmd": argv})
        word = quote_expanding if args.expand_argument_vars else quote
        exec_text = " ".join(word(arg) for arg in argv)
        invocation = Invocation(
            exec_text=exec_text,
            display=argv,
            chdir=args.chdir,
            creates=args.creates,
            removes=args.removes,
            stdin=args.stdin,
            stdin_add_newline=args.stdin_add_newline,
            strip_empty_ends=args.strip_empty_ends,
        )
        return run_invocation(ctx, invocation)
