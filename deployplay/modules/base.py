"""The module contract: a class with `name`, an `Args` model and `run(ctx, args) -> ModuleResult`.

A module reads like this: look at the host, decide, act, report `changed`
truthfully. It runs plain POSIX shell on the host through `ctx.run`, in as
few commands as it can (one script per step).

    class Hello(Module):
        '''Write a greeting to a file on the host.

            - hello: {path: /tmp/hi, text: hello}
        '''
        name = "hello"
        supports_check_mode = True

        class Args(ModuleArgs):
            path: str
            text: str = "hello"

        def run(self, ctx: ModuleContext, args: Args) -> ModuleResult:
            current = ctx.run(f"cat {quote(args.path)} 2>/dev/null")
            if current.stdout == args.text:
                return ModuleResult(msg="already there")
            if not ctx.check_mode:
                ctx.put(args.text.encode(), args.path)
            return ModuleResult(changed=True, msg=f"wrote {args.path}")
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from deployplay.errors import Location

if TYPE_CHECKING:
    from deployplay.runner.connections.base import Connection
    from deployplay.runner.context import RunOptions, RunState
    from deployplay.runner.inventory import Inventory
    from deployplay.runner.results import CommandResult
    from deployplay.runner.templating import Templar


class ModuleArgs(BaseModel):
    """Base for every module's Args: unknown (misspelt) arguments are an error."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


@dataclass(slots=True)
class ModuleResult:
    """What a module reports. `data` is kept by `register`; `facts` become host variables."""

    changed: bool = False
    failed: bool = False
    msg: str = ""
    skipped: bool = False
    data: dict[str, Any] = field(default_factory=dict)
    diff: list[dict[str, Any]] | None = None
    facts: dict[str, Any] | None = None


@dataclass(slots=True)
class ModuleContext:
    """Everything a module may use while it runs one task on one host.

    `run`, `put` and `get` go to the task's target (the host, or the
    controller for `delegate_to: localhost`) with the task's environment,
    become and timeout applied.
    """

    host: str
    vars: Mapping[str, Any]
    connection: Connection
    check_mode: bool
    diff_mode: bool
    run_state: RunState
    templar: Templar
    inventory: Inventory
    playbook_dir: Path
    task_name: str = ""
    location: Location | None = None
    verbosity: int = 0
    environment: dict[str, str] = field(default_factory=dict)
    become: bool = False
    become_user: str | None = None
    timeout: float | None = None
    connection_for: Callable[[str], Connection] | None = None
    # The run's options (host key policy, known_hosts files...), for a module that opens
    # connections of its own (promotion_check reading another inventory's ledgers).
    options: RunOptions | None = None
    progress: Callable[[str], None] = lambda _text: None
    output: Callable[[str], None] = lambda _line: None

    def run(
        self,
        command: str,
        *,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        timeout: float | None = None,
        stdin: bytes | IO[bytes] | None = None,
    ) -> CommandResult:
        merged = {**self.environment, **(env or {})}
        return self.connection.run(
            command,
            env=merged or None,
            cwd=cwd,
            timeout=timeout if timeout is not None else self.timeout,
            stdin=stdin,
            become=self.become,
            become_user=self.become_user,
        )

    def put(self, src: Path | bytes, dest: str, *, mode: int | None = None) -> None:
        self.connection.put(src, dest, mode=mode)

    def get(self, src: str) -> bytes:
        return self.connection.get(src)


class Module:
    """Base class of every module; subclasses set the class attributes and implement run()."""

    name: ClassVar[str]
    Args: ClassVar[type[ModuleArgs]] = ModuleArgs
    # Check mode: a module that supports it is called with ctx.check_mode and must change
    # nothing; a read-only one runs as usual; any other is skipped with a reason.
    supports_check_mode: ClassVar[bool] = False
    read_only: ClassVar[bool] = False
    runs_on: ClassVar[Literal["host", "controller"]] = "host"
    # The argument a bare string fills: `command: ls /srv` means {cmd: "ls /srv"}.
    free_form: ClassVar[str | None] = None

    def run(self, ctx: ModuleContext, args: Any) -> ModuleResult:
        raise NotImplementedError
