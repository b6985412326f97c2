"""shell: run a command line through a shell on the host (as Ansible's shell module)."""

from __future__ import annotations

from pydantic import Field

from deployplay.modules._shell import quote
from deployplay.modules.base import Module, ModuleArgs, ModuleContext, ModuleResult
from deployplay.modules.command import Invocation, run_invocation


class ShellArgs(ModuleArgs):
    cmd: str = Field(description="The command line, run by the shell: pipes, redirects, globs.")
    chdir: str | None = Field(None, description="Change into this directory on the host first.")
    executable: str | None = Field(
        None, description="The shell to run it with (default /bin/sh), e.g. /bin/bash."
    )
    creates: str | None = Field(
        None, description="A path or glob; when it exists, the command is not run."
    )
    removes: str | None = Field(
        None, description="A path or glob; when it does not exist, the command is not run."
    )
    stdin: str | None = Field(None, description="Text fed to the command's standard input.")
    stdin_add_newline: bool = Field(True, description="Append a newline to stdin.")
    strip_empty_ends: bool = Field(
        True, description="Strip trailing newlines from stdout and stderr."
    )


class Shell(Module):
    """Run a command line through /bin/sh (or `executable`) on the host.

    Pipes, redirects, `&&`, globs and variables work as in a terminal. The
    task is `changed` whenever the command runs; `creates` and `removes` make
    it idempotent. A non-zero exit code fails the task, with rc, stdout and
    stderr registered. In check mode it is skipped unless `creates`/`removes`
    decide that it would not run.

        - name: Count the workers
          shell: ps aux | grep -c '[g]unicorn'
          register: workers
          changed_when: false

        - shell:
            cmd: set -o pipefail && ./build.sh | tee build.log
            chdir: /srv/app/current
            executable: /bin/bash
    """

    name = "shell"
    Args = ShellArgs
    supports_check_mode = True
    free_form = "cmd"

    def run(self, ctx: ModuleContext, args: ShellArgs) -> ModuleResult:
        executable = args.executable or "/bin/sh"
        invocation = Invocation(
            exec_text=f"{quote(executable)} -c {quote(args.cmd)}",
            display=args.cmd,
            chdir=args.chdir,
            creates=args.creates,
            removes=args.removes,
            stdin=args.stdin,
            stdin_add_newline=args.stdin_add_newline,
            strip_empty_ends=args.strip_empty_ends,
        )
        return run_invocation(ctx, invocation)
