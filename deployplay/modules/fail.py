"""fail: stop the host with a message."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from deployplay.modules.base import Module, ModuleArgs, ModuleContext, ModuleResult


class FailArgs(ModuleArgs):
    msg: Any = Field("Failed as requested from task", description="The message to fail with.")


class Fail(Module):
    """Fail the host with a message; usually with `when`. Changes nothing.

    - fail:
        msg: "refusing to deploy {{ version }}: it is marked bad"
      when: version in bad_releases
    """

    name = "fail"
    Args = FailArgs
    supports_check_mode = True
    read_only = True
    runs_on = "controller"

    def run(self, ctx: ModuleContext, args: FailArgs) -> ModuleResult:
        return ModuleResult(failed=True, msg=str(args.msg), data={"msg": args.msg})
