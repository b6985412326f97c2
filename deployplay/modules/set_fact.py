"""set_fact: set host variables for the rest of the run."""

from __future__ import annotations

import keyword

from pydantic import ConfigDict, Field, model_validator

from deployplay.modules.base import Module, ModuleArgs, ModuleContext, ModuleResult


class SetFactArgs(ModuleArgs):
    # Any key is a variable to set; only `cacheable` is an option.
    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)

    cacheable: bool = Field(
        False, description="Accepted for Ansible compatibility; facts last for this run only."
    )

    @model_validator(mode="after")
    def _variable_names(self) -> SetFactArgs:
        # Checked here, not in run(), so that `deployplay check` reports it before any host.
        for name in self.model_extra or {}:
            if not name.isidentifier() or keyword.iskeyword(name):
                raise ValueError(
                    f"The variable name '{name}' is not valid. Variables must start with a "
                    "letter or underscore character, and contain only letters, numbers and "
                    "underscores."
                )
        return self


class SetFact(Module):
    """Set variables on the host for the rest of the run (above play and task vars).

    Each key is a variable name; its value is templated first. The values live
    on the controller: nothing on the host changes.

        - set_fact:
            release_dir: "/srv/app/releases/{{ version }}"
            is_canary: "{{ inventory_hostname in groups['canary'] }}"
    """

    name = "set_fact"
    Args = SetFactArgs
    supports_check_mode = True
    read_only = True
    runs_on = "controller"

    def run(self, ctx: ModuleContext, args: SetFactArgs) -> ModuleResult:
        facts = dict(args.model_extra or {})
        if not facts:
            return ModuleResult(
                failed=True,
                msg="No key/value pairs provided, "
                "at least one is required for this action to succeed",
            )
        return ModuleResult(facts=facts, data={"ansible_facts": facts})
