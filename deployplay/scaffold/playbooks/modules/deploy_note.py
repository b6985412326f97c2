"""deploy_note: an example of a project module; delete it or make it yours."""

from __future__ import annotations

import shlex

from pydantic import Field

from deployplay import Module, ModuleContext, ModuleResult
from deployplay.modules.base import ModuleArgs


class DeployNote(Module):
    """Write a one-line note about the release into a file on the host (e.g. for your MOTD).

    - deploy_note:
        path: "{{ deploy_path }}/shared/NOTE"
        text: "{{ version }} released by {{ lookup('env', 'USER') }}"
    """

    name = "deploy_note"
    supports_check_mode = True

    class Args(ModuleArgs):
        path: str = Field(description="the file on the host")
        text: str = Field(description="the note, one line")

    def run(self, ctx: ModuleContext, args: Args) -> ModuleResult:
        path = shlex.quote(args.path)
        current = ctx.run(f"cat {path} 2>/dev/null || true")
        if current.stdout.strip() == args.text:
            return ModuleResult(msg=f"{args.path} already says so")
        if not ctx.check_mode:
            ctx.put(f"{args.text}\n".encode(), args.path)
        return ModuleResult(changed=True, msg=f"wrote {args.path}")
