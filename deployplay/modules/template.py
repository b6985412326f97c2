"""template: render a Jinja2 template on the controller and put the result on the host."""

from __future__ import annotations

from pydantic import Field

from deployplay.modules._shell import find_local_file
from deployplay.modules.base import Module, ModuleArgs, ModuleContext, ModuleResult
from deployplay.modules.copy import Destination, FileSpec, SyncArgs, not_found, sync_file


class TemplateSource(ModuleArgs):
    src: str = Field(
        description="The Jinja2 template on the controller; a relative path is looked up in "
        "the playbook's templates/ directory, then beside the playbook."
    )


# The bases' order makes `deployplay doc` list src and dest first.
class TemplateArgs(SyncArgs, Destination, TemplateSource):
    pass


class Template(Module):
    """Render a Jinja2 template with the host's variables and write it to a path on the host.

    Rendering happens on the controller (sandboxed, undefined variables are
    errors); the result is written exactly as `copy` writes content: only when
    its checksum differs, atomically, with mode/owner/group, backup and
    validate. `--check` says what would change; `--diff` shows the lines.

        - template:
            src: nginx.conf.j2      # templates/nginx.conf.j2 beside the playbook
            dest: /etc/nginx/sites-enabled/app.conf
            mode: "0644"
            validate: nginx -t -c %s
          notify: reload nginx
    """

    name = "template"
    Args = TemplateArgs
    supports_check_mode = True

    def run(self, ctx: ModuleContext, args: TemplateArgs) -> ModuleResult:
        local = find_local_file(ctx, args.src, "templates")
        if local is None or not local.is_file():
            return ModuleResult(failed=True, msg=not_found(ctx, args.src, "templates"))
        rendered = ctx.templar.render_file(local)
        # As Ansible: a dest directory receives the template under its own name, .j2 and all.
        spec = FileSpec(rendered.encode(), args.dest, local.name, str(local), args)
        return sync_file(ctx, spec)
