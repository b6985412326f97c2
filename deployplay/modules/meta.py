"""meta: steer the play itself (flush handlers, end the play or a host)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from deployplay.modules.base import Module, ModuleArgs, ModuleContext, ModuleResult

MetaAction = Literal["flush_handlers", "end_play", "end_host", "end_batch", "noop"]


class MetaArgs(ModuleArgs):
    action: MetaAction = Field(
        description="flush_handlers: run notified handlers now; end_play: stop the play for "
        "every host; end_host: stop it for this host; end_batch: end this serial batch; "
        "noop: nothing."
    )


class Meta(Module):
    """Act on the play rather than on a host; the executor carries the action out.

    - meta: flush_handlers

    - meta: end_host
      when: current_version == version
    """

    name = "meta"
    Args = MetaArgs
    supports_check_mode = True
    read_only = True
    runs_on = "controller"
    free_form = "action"

    def run(self, ctx: ModuleContext, args: MetaArgs) -> ModuleResult:
        return ModuleResult(data={"meta": args.action})
