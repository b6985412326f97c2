"""debug: print a message or a variable's value while the play runs."""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field, model_validator

from deployplay.errors import TemplateError
from deployplay.modules.base import Module, ModuleArgs, ModuleContext, ModuleResult

NOT_DEFINED = "VARIABLE IS NOT DEFINED!"


class DebugArgs(ModuleArgs):
    msg: Any = Field(None, description='The message to print (default "Hello world!").')
    var: Any = Field(
        None, description="A variable name or expression whose value to print, e.g. result.stdout."
    )
    verbosity: int = Field(0, description="Print only when run with at least this many -v.")

    @model_validator(mode="after")
    def _msg_or_var(self) -> DebugArgs:
        if self.msg is not None and self.var is not None:
            raise ValueError("'msg' and 'var' are incompatible options")
        return self


class Debug(Module):
    """Print a message, or a variable's value, in the play's output. Changes nothing.

    - debug:
        msg: "Deploying {{ version }} to {{ inventory_hostname }}"

    - debug:
        var: smoke_result.json
        verbosity: 1
    """

    name = "debug"
    Args = DebugArgs
    supports_check_mode = True
    read_only = True
    runs_on = "controller"

    def run(self, ctx: ModuleContext, args: DebugArgs) -> ModuleResult:
        if ctx.verbosity < args.verbosity:
            reason = "Verbosity threshold not met."
            return ModuleResult(skipped=True, msg=reason, data={"skipped_reason": reason})
        if args.var is None:
            message = "Hello world!" if args.msg is None else args.msg
            return ModuleResult(msg=_text(message), data={"msg": message})
        if not isinstance(args.var, str):
            # The executor already templated `var: "{{ x }}"` into its value.
            return ModuleResult(msg=_text(args.var), data={"var": args.var})
        try:
            value = ctx.templar.evaluate(args.var)
        except TemplateError:
            value = NOT_DEFINED
        return ModuleResult(msg=_text(value), data={args.var: value})


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, sort_keys=True, default=str)
