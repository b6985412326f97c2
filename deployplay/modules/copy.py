"""copy: put a file from the controller (or given content) on the host, idempotently.

`sync_file` is shared with the template module: stat the destination (one
command), compare sha1 checksums, and only when something differs upload to a
temporary file beside it and move it into place (one upload, one command).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from pydantic import Field, field_validator, model_validator

from deployplay.errors import HostError
from deployplay.modules._shell import (
    RemoteStat,
    attribute_commands,
    find_local_file,
    parse_mode,
    parse_stat,
    quote,
    remote_stat,
    search_dirs,
    sha1,
    stat_script,
)
from deployplay.modules.base import Module, ModuleArgs, ModuleContext, ModuleResult

# Ansible's default max_diff_size: larger files are not diffed.
MAX_DIFF_BYTES = 104448
VALIDATE_FAILED = "__deployplay_validate_failed__"


class ValidationFailed(Exception):
    """The `validate` command refused the new file; dest was left as it was."""


class FileAttributes(ModuleArgs):
    """The arguments copy, template and file share."""

    mode: str | int | None = Field(
        None,
        description="Permissions: octal as a string ('0644'), or symbolic ('u=rw,g=r,o=r'). "
        "Without it a new file gets the default and an existing one keeps its mode.",
    )
    owner: str | None = Field(None, description="User that should own it (chown).")
    group: str | None = Field(None, description="Group that should own it (chgrp).")

    @field_validator("owner", "group", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        # YAML reads `owner: 1000` as a number; chown takes it as text all the same.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class Destination(ModuleArgs):
    dest: str = Field(
        description="Path on the host; an existing directory, or a path ending in '/', "
        "receives the file under its source name."
    )


class SyncArgs(FileAttributes):
    """The options copy and template share (besides src and dest)."""

    backup: bool = Field(
        False, description="Keep the old file as <dest>.<pid>.<time>~ when it changes."
    )
    force: bool = Field(
        True, description="Replace a file whose content differs; with false, only create."
    )
    follow: bool = Field(
        False,
        description="When dest is a symlink: true writes the file it points to; "
        "false replaces the link with the file.",
    )
    validate_cmd: str | None = Field(
        None,
        alias="validate",
        description="Command run on the new file before it replaces dest; %s is its path. "
        "A non-zero exit leaves dest untouched and fails the task.",
    )


@dataclass(frozen=True, slots=True)
class FileSpec:
    """What should be at `dest` on the host."""

    content: bytes
    dest: str
    basename: str | None  # the source's name, used when dest is a directory
    label: str  # where the content came from, for diff headers
    args: SyncArgs


def sync_file(ctx: ModuleContext, spec: FileSpec) -> ModuleResult:
    """Make the file at spec.dest hold spec.content with the asked attributes."""
    into_dir = spec.dest.endswith("/")
    dest = spec.dest + spec.basename if into_dir and spec.basename else spec.dest
    stat = remote_stat(
        ctx,
        dest,
        checksum=True,
        into_dir=None if into_dir else spec.basename,
        resolve=spec.args.follow,
    )
    path = stat.path or dest
    if stat.type == "link" and not stat.target_is_dir:
        # As Ansible without `follow`: the link is replaced by the file; its own
        # attributes (lrwxrwxrwx) are not the ones to keep.
        stat = RemoteStat(path=path, type="link", parent_exists=True)
    elif stat.type not in ("file", "absent"):
        kind = "symlink to a directory" if stat.type == "link" else stat.type
        return ModuleResult(failed=True, msg=f"{path} exists and is a {kind}, not a file")
    if not stat.parent_exists and not into_dir:
        parent = PurePosixPath(path).parent
        return ModuleResult(failed=True, msg=f"Destination directory {parent} does not exist")
    checksum = sha1(spec.content)
    data: dict[str, Any] = {"dest": path, "checksum": checksum, "size": len(spec.content)}
    if stat.exists and stat.checksum != checksum and not spec.args.force:
        return ModuleResult(msg="file already exists", data=_file_data(data, stat))
    if stat.checksum == checksum:
        return _sync_attributes(ctx, path, stat, spec.args, data)
    diff = [_content_diff(ctx, path, stat, spec)] if ctx.diff_mode else None
    if ctx.check_mode:
        return ModuleResult(changed=True, msg=f"would write {path}", data=data, diff=diff)
    try:
        final, backup = _replace(ctx, path, stat, spec, make_parent=into_dir)
    except ValidationFailed as refused:
        output = f": {refused}" if str(refused) else ""
        msg = f"failed to validate with {spec.args.validate_cmd!r}{output}"
        return ModuleResult(failed=True, msg=msg, data=data, diff=diff)
    if backup:
        data["backup_file"] = backup
    return ModuleResult(changed=True, msg=f"wrote {path}", data=_file_data(data, final), diff=diff)


def _sync_attributes(
    ctx: ModuleContext, path: str, stat: RemoteStat, args: SyncArgs, data: dict[str, Any]
) -> ModuleResult:
    commands, before, after = attribute_commands(
        path, stat, mode=args.mode, owner=args.owner, group=args.group
    )
    if not commands:
        return ModuleResult(data=_file_data(data, stat))
    diff = [{"before": {"path": path, **before}, "after": {"path": path, **after}}]
    if not ctx.check_mode:
        result = ctx.run(" && ".join(commands) + "\n" + stat_script(path))
        if result.failed:
            return ModuleResult(
                failed=True,
                msg=f"could not set attributes of {path}: {result.stderr.strip()}",
                data=data,
            )
        stat = parse_stat(result.stdout)
    changed_text = ", ".join(f"{key} {value}" for key, value in after.items())
    return ModuleResult(
        changed=True,
        msg=f"{path}: {changed_text}",
        data=_file_data(data, stat),
        diff=diff if ctx.diff_mode else None,
    )


def _replace(
    ctx: ModuleContext, path: str, stat: RemoteStat, spec: FileSpec, *, make_parent: bool
) -> tuple[RemoteStat, str | None]:
    """Upload beside dest and move into place in one script; returns the new stat, backup path."""
    args = spec.args
    parent = str(PurePosixPath(path).parent)
    tmp = f"{parent}/.{PurePosixPath(path).name}.deployplay-{secrets.token_hex(4)}.tmp"
    lines = ["set -e", f"p={quote(path)}", f"tmp={quote(tmp)}"]
    if make_parent:
        ctx.run(f"mkdir -p -- {quote(parent)}")
    wanted = parse_mode(args.mode, stat.mode, False)
    keep_mode = stat.mode if args.mode is None else None
    ctx.put(spec.content, tmp, mode=wanted if wanted is not None else keep_mode)
    lines.append("trap 'rm -f -- \"$tmp\"' EXIT")
    if args.validate_cmd:
        check = args.validate_cmd.replace("%s", '"$tmp"')
        lines.append(f"if ! ( {check} ) >&2; then echo {VALIDATE_FAILED} >&2; exit 3; fi")
    if args.backup and stat.exists:
        lines += [
            'b="$p.$$.$(date +%Y-%m-%d@%H:%M:%S)~"',
            'cp -p -- "$p" "$b"',
            'printf "backup=%s\\n" "$b"',
        ]
    if wanted is None and args.mode is not None:  # symbolic mode on a new file
        lines.append(f'chmod -- {quote(str(args.mode))} "$tmp"')
    for tool, asked, current in (("chown", args.owner, stat.uid), ("chgrp", args.group, stat.gid)):
        if asked is not None:
            lines.append(f'{tool} -- {quote(asked)} "$tmp"')
        elif current is not None:
            # Keep the old file's owner, as Ansible does; only root may, so best effort.
            lines.append(f'{tool} -- {current} "$tmp" 2>/dev/null || true')
    lines += ['mv -f -- "$tmp" "$p"', "set +e", stat_script(path)]
    result = ctx.run("\n".join(lines))
    if result.failed and VALIDATE_FAILED in result.stderr:
        raise ValidationFailed(result.stderr.replace(VALIDATE_FAILED, "").strip())
    if result.failed:
        raise HostError(f"could not write {path} on {ctx.host}: {result.stderr.strip()}")
    backup = next(
        (line[7:] for line in result.stdout.splitlines() if line.startswith("backup=")), None
    )
    # parse_stat ignores the backup= line: it only reads the keys it knows.
    return parse_stat(result.stdout), backup


def _content_diff(
    ctx: ModuleContext, path: str, stat: RemoteStat, spec: FileSpec
) -> dict[str, Any]:
    before = ""
    if stat.type == "file":
        if (stat.size or 0) > MAX_DIFF_BYTES:
            before = f"(not shown: larger than {MAX_DIFF_BYTES} bytes)\n"
        else:
            before = _as_text(ctx.get(path))
    after = _as_text(spec.content)
    if len(spec.content) > MAX_DIFF_BYTES:
        after = f"(not shown: larger than {MAX_DIFF_BYTES} bytes)\n"
    return {"before": before, "after": after, "before_header": path, "after_header": spec.label}


def _as_text(data: bytes) -> str:
    if b"\0" in data:
        return "(binary file, not shown)\n"
    return data.decode("utf-8", "replace")


def _file_data(data: dict[str, Any], stat: RemoteStat) -> dict[str, Any]:
    extra = {
        "state": "file",
        "mode": stat.mode_text(),
        "owner": stat.owner,
        "group": stat.group,
        "uid": stat.uid,
        "gid": stat.gid,
    }
    return {**data, **{key: value for key, value in extra.items() if value is not None}}


class CopySource(ModuleArgs):
    src: str | None = Field(
        None,
        description="A file on the controller; a relative path is looked up in the "
        "playbook's files/ directory, then beside the playbook.",
    )
    content: str | None = Field(None, description="Write this text instead of a file.")


# The bases' order makes `deployplay doc` list src, content and dest first.
class CopyArgs(SyncArgs, Destination, CopySource):
    @model_validator(mode="after")
    def _src_or_content(self) -> CopyArgs:
        if (self.src is None) == (self.content is None):
            raise ValueError("give exactly one of src or content")
        if self.content is not None and self.dest.endswith("/"):
            raise ValueError("can not use content with a dir as dest")
        return self


class Copy(Module):
    """Copy a file from the controller, or write given content, to a path on the host.

    Idempotent: the file is rewritten only when its sha1 checksum differs, and
    mode/owner/group are changed only when they differ. The new file is
    uploaded beside the old one and moved into place, so readers never see
    half a file. `--check` says what would change; `--diff` shows the lines.

        - copy:
            src: app.env            # files/app.env beside the playbook
            dest: /srv/app/shared/.env
            mode: "0600"
            owner: app
            backup: true

        - copy:
            content: "{{ version }}\\n"
            dest: /srv/app/VERSION
    """

    name = "copy"
    Args = CopyArgs
    supports_check_mode = True

    def run(self, ctx: ModuleContext, args: CopyArgs) -> ModuleResult:
        if args.content is not None:
            spec = FileSpec(args.content.encode(), args.dest, None, "dynamically generated", args)
            return sync_file(ctx, spec)
        assert args.src is not None  # the validator guarantees one of them
        local = find_local_file(ctx, args.src, "files")
        if local is None:
            return ModuleResult(failed=True, msg=not_found(ctx, args.src, "files"))
        if local.is_dir():
            return ModuleResult(
                failed=True, msg=f"src {local} is a directory: copy takes a file (use push)"
            )
        spec = FileSpec(local.read_bytes(), args.dest, local.name, str(local), args)
        return sync_file(ctx, spec)


def not_found(ctx: ModuleContext, src: str, subdir: str) -> str:
    places = ", ".join(str(place) for place in search_dirs(ctx, subdir))
    return f"Could not find or access '{src}' on the controller; searched in: {places}"
