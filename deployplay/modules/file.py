"""file: make a path on the host a file, directory or symlink with attributes, or remove it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal

from pydantic import AliasChoices, Field, model_validator

from deployplay.errors import HostError
from deployplay.modules._shell import (
    RemoteStat,
    attribute_commands,
    parse_mode,
    parse_stat,
    quote,
    stat_script,
)
from deployplay.modules.base import Module, ModuleArgs, ModuleContext, ModuleResult
from deployplay.modules.copy import FileAttributes

FileState = Literal["file", "directory", "link", "absent", "touch"]


class FilePath(ModuleArgs):
    path: str = Field(
        validation_alias=AliasChoices("path", "dest", "name"),
        description="The path on the host (aliases dest, name).",
    )
    state: FileState | None = Field(
        None,
        description="file: must exist, set attributes; directory: create (with parents); "
        "link: a symlink to src; absent: remove (recursively); touch: create or update times. "
        "Default: what is there now, else file.",
    )
    src: str | None = Field(
        None, description="For state=link: what the link points to (relative to the link's dir)."
    )


# The bases' order makes `deployplay doc` list path, state and src first.
class FileArgs(FileAttributes, FilePath):
    recurse: bool = Field(
        False, description="For directories: set attributes on everything inside."
    )
    force: bool = Field(
        False,
        description="For links: replace a file or an empty directory in the way, "
        "or link to a src that does not exist.",
    )
    follow: bool = Field(True, description="Set the attributes of what a symlink points to.")

    @model_validator(mode="after")
    def _consistent(self) -> FileArgs:
        if self.recurse and self.state not in (None, "directory"):
            raise ValueError("recurse needs state=directory")
        if self.src is not None and self.state not in (None, "link"):
            raise ValueError("src is only for state=link")
        return self


@dataclass(slots=True)
class Plan:
    """What to run to reach the asked state; no commands means nothing to change."""

    state: str
    commands: list[str] = field(default_factory=list)
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    failure: str | None = None
    always_run: bool = False  # recurse: the script decides and reports `changed` itself


class File(Module):
    """Make a path on the host a file, a directory or a symlink, set its mode/owner/group,
    or remove it. One command looks, one command changes, and only when needed.

        - file:
            path: /srv/app/shared/logs
            state: directory
            owner: app
            mode: "0755"

        - file:
            src: /srv/app/releases/{{ version }}
            dest: /srv/app/current
            state: link

        - file: {path: /tmp/app-build, state: absent}
    """

    name = "file"
    Args = FileArgs
    supports_check_mode = True

    def run(self, ctx: ModuleContext, args: FileArgs) -> ModuleResult:
        path = args.path
        src_abs = None
        if args.src is not None:
            src_abs = str(PurePosixPath(path).parent / args.src)
        stat, src_exists = _look(ctx, path, args, src_abs)
        state = args.state or (stat.type if stat.type in ("file", "directory", "link") else "file")
        plan = _PLANNERS[state](path, stat, args, src_exists)
        if plan.failure:
            return ModuleResult(
                failed=True, msg=plan.failure, data={"path": path, "state": stat.type}
            )
        if not plan.commands:
            return ModuleResult(data=_data(path, state, stat, args))
        diff = [{"before": {"path": path, **plan.before}, "after": {"path": path, **plan.after}}]
        diff_out = diff if ctx.diff_mode else None
        if ctx.check_mode and not plan.always_run:
            return ModuleResult(
                changed=True,
                msg=_describe(path, plan),
                diff=diff_out,
                data={"path": path, "state": state},
            )
        final, changed = _apply(ctx, path, plan, args)
        if not changed:
            return ModuleResult(data=_data(path, state, final, args))
        return ModuleResult(
            changed=True,
            msg=_describe(path, plan),
            diff=diff_out,
            data=_data(path, state, final, args),
        )


def _look(
    ctx: ModuleContext, path: str, args: FileArgs, src_abs: str | None
) -> tuple[RemoteStat, bool]:
    """One command: the path's state (following a link when asked) and whether src exists."""
    follow = args.follow and args.state in ("file", "directory", "touch")
    script = f"( {stat_script(path, follow=follow)} )"
    if src_abs is not None:
        script += f"\nif [ -e {quote(src_abs)} ]; then echo src_exists=yes; fi"
    result = ctx.run(script)
    if result.failed:
        raise HostError(f"could not inspect {path} on {ctx.host}: {result.stderr.strip()}")
    return parse_stat(result.stdout), "src_exists=yes" in result.stdout.splitlines()


def _attributes(path: str, stat: RemoteStat | None, args: FileArgs, plan: Plan) -> Plan:
    symlink = plan.state == "link"
    commands, before, after = attribute_commands(
        path, stat, mode=args.mode, owner=args.owner, group=args.group, symlink=symlink
    )
    plan.commands += commands
    plan.before.update(before)
    plan.after.update(after)
    return plan


def _plan_absent(path: str, stat: RemoteStat, args: FileArgs, src_exists: bool) -> Plan:
    if not stat.exists:
        return Plan("absent")
    return Plan("absent", [f"rm -rf -- {quote(path)}"], {"state": stat.type}, {"state": "absent"})


def _plan_file(path: str, stat: RemoteStat, args: FileArgs, src_exists: bool) -> Plan:
    if stat.type != "file":
        return Plan("file", failure=f"file ({path}) is {stat.type}, cannot continue")
    return _attributes(path, stat, args, Plan("file"))


def _plan_touch(path: str, stat: RemoteStat, args: FileArgs, src_exists: bool) -> Plan:
    # As Ansible: touching an existing file updates its times, which is a change.
    plan = Plan("touch", [f"touch -- {quote(path)}"], {"state": stat.type}, {"state": "touch"})
    return _attributes(path, stat if stat.exists else None, args, plan)


def _plan_directory(path: str, stat: RemoteStat, args: FileArgs, src_exists: bool) -> Plan:
    if stat.exists and stat.type != "directory":
        return Plan("directory", failure=f"{path} already exists as a {stat.type}")
    plan = Plan("directory")
    if not stat.exists:
        plan.commands.append(f"mkdir -p -- {quote(path)}")
        plan.before["state"], plan.after["state"] = "absent", "directory"
    _attributes(path, stat if stat.exists else None, args, plan)
    if args.recurse and (args.mode is not None or args.owner or args.group):
        plan.commands.append(_recurse_script(path, args))
        plan.always_run = stat.exists and not plan.before
    return plan


def _plan_link(path: str, stat: RemoteStat, args: FileArgs, src_exists: bool) -> Plan:
    plan = Plan("link")
    if args.src is None:
        if stat.type != "link":
            return Plan("link", failure="src is required for creating new symlinks")
        return _attributes(path, stat, args, plan)
    if not args.force and not src_exists:
        return Plan(
            "link",
            failure="src file does not exist, use 'force: true' if you really "
            f"want to create the link: {PurePosixPath(path).parent / args.src}",
        )
    if stat.type in ("file", "directory", "other") and not args.force:
        return Plan("link", failure=f"refusing to convert from {stat.type} to symlink for {path}")
    if stat.type == "link" and stat.target == args.src:
        return _attributes(path, stat, args, plan)
    plan.before = {"state": stat.type} if stat.type != "link" else {"src": stat.target}
    plan.after = {"state": "link"} if stat.type != "link" else {"src": args.src}
    plan.commands.append(_link_script(path, args.src, remove_dir=stat.type == "directory"))
    return _attributes(path, None, args, plan)


_PLANNERS = {
    "absent": _plan_absent,
    "file": _plan_file,
    "touch": _plan_touch,
    "directory": _plan_directory,
    "link": _plan_link,
}


def _link_script(path: str, src: str, *, remove_dir: bool) -> str:
    """Point `path` at `src` atomically: a new link beside it renamed over it."""
    tmp = f"{PurePosixPath(path).parent}/.{PurePosixPath(path).name}.deployplay-link"
    # The shell's pid in the name: two runs switching the same link never share it.
    p, s, t = quote(path), quote(src), quote(tmp) + '."$$"'
    # rmdir refuses a directory with files in it, as Ansible does.
    lines = [f"rmdir -- {p}"] if remove_dir else []
    # mv -T replaces a link to a directory instead of moving into it; without -T
    # (old busybox) fall back to ln -sfn, which is not atomic but does the same.
    lines.append(
        f"rm -f -- {t} && ln -s -- {s} {t} && "
        f"{{ mv -Tf -- {t} {p} 2>/dev/null || {{ rm -f -- {t}; ln -sfn -- {s} {p}; }}; }}"
    )
    return " && ".join(lines)


def _recurse_script(path: str, args: FileArgs) -> str:
    """Find what inside `path` differs and fix it; prints `recursed` when it changed something."""
    tests: list[tuple[str, str]] = []
    mode = parse_mode(args.mode, None, True) if args.mode is not None else None
    if mode is not None:
        tests.append((f"! -perm {mode:04o} ! -type l", f"chmod -- {mode:04o}"))
    elif args.mode is not None:  # symbolic: find cannot compare it, so always apply it
        tests.append(("! -type l", f"chmod -- {quote(str(args.mode))}"))
    if args.owner:
        tests.append((f"! -user {quote(args.owner)}", f"chown -h -- {quote(args.owner)}"))
    if args.group:
        tests.append((f"! -group {quote(args.group)}", f"chgrp -h -- {quote(args.group)}"))
    lines = []
    for test, action in tests:
        lines.append(
            f'if [ -n "$(find {quote(path)} {test} | head -n 1)" ]; then echo recursed; '
            f'[ "$DEPLOYPLAY_CHECK" = 1 ] || find {quote(path)} {test} -exec {action} {{}} +; fi'
        )
    return "{ " + "\n".join(lines) + "\n}"


def _apply(ctx: ModuleContext, path: str, plan: Plan, args: FileArgs) -> tuple[RemoteStat, bool]:
    """Run the plan in one script; returns the final state and whether anything changed."""
    script = "set -e\n" + "\n".join(plan.commands) + "\nset +e\n" + stat_script(path)
    env = {"DEPLOYPLAY_CHECK": "1"} if ctx.check_mode else None
    result = ctx.run(script, env=env)
    if result.failed:
        raise HostError(
            f"could not make {path} a {plan.state} on {ctx.host}: "
            f"{result.stderr.strip() or result.stdout.strip()}"
        )
    changed = bool(plan.before) or "recursed" in result.stdout.splitlines()
    return parse_stat(result.stdout), changed


def _describe(path: str, plan: Plan) -> str:
    changes = ", ".join(f"{key} {value}" for key, value in plan.after.items())
    return f"{path}: {changes}" if changes else f"{path}: attributes updated"


def _data(path: str, state: str, stat: RemoteStat, args: FileArgs) -> dict[str, Any]:
    data: dict[str, Any] = {"path": path, "state": stat.type if state == "touch" else state}
    if state == "absent":
        return data
    if state == "link":
        data.update(dest=path, src=stat.target)
    extra = {
        "mode": stat.mode_text(),
        "owner": stat.owner,
        "group": stat.group,
        "uid": stat.uid,
        "gid": stat.gid,
        "size": stat.size,
    }
    data.update({key: value for key, value in extra.items() if value is not None})
    return data
