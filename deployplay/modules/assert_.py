"""assert: fail the host unless every condition holds."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, Field, field_validator

from deployplay.modules.base import Module, ModuleArgs, ModuleContext, ModuleResult

DEFAULT_SUCCESS = "All assertions passed"
DEFAULT_FAIL = "Assertion failed"


class AssertArgs(ModuleArgs):
    that: list[str | bool] = Field(
        description="A condition, or a list of them, written as in `when` (no braces)."
    )
    fail_msg: Any = Field(
        None,
        validation_alias=AliasChoices("fail_msg", "msg"),
        description="The message when a condition is false (alias msg).",
    )
    success_msg: Any = Field(None, description="The message when every condition holds.")
    quiet: bool = Field(False, description="Say less when the assertions pass.")

    @field_validator("that", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str | bool) else value


class Assert(Module):
    """Check conditions on the controller and fail the host when one is false. Changes nothing.

    The conditions are expressions, as in `when`; they are evaluated in order
    and the first false one is registered as `assertion`.

        - assert:
            that:
              - version is version('1.0', '>=')
              - smoke.status == 200
            fail_msg: "{{ inventory_hostname }} is not healthy"
            success_msg: healthy
    """

    name = "assert"
    Args = AssertArgs
    supports_check_mode = True
    read_only = True
    runs_on = "controller"

    def run(self, ctx: ModuleContext, args: AssertArgs) -> ModuleResult:
        for condition in args.that:
            holds = condition if isinstance(condition, bool) else ctx.templar.is_true(condition)
            if not holds:
                message = DEFAULT_FAIL if args.fail_msg is None else args.fail_msg
                data = {"assertion": condition, "evaluated_to": False, "msg": message}
                return ModuleResult(failed=True, msg=str(message), data=data)
        message = DEFAULT_SUCCESS if args.success_msg is None else args.success_msg
        return ModuleResult(msg=str(message), data={"msg": message})
