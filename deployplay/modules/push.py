"""push: upload a release to a host and switch `current` to it atomically."""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from deployplay.modules._release import (
    MARKER_FILE,
    ReleaseSource,
    SourceError,
    commands,
    from_git,
    from_path,
    normalize_version,
    parse_marker,
    prune_candidates,
    q,
    release_dir,
    switch_script,
    valid_version,
)
from deployplay.modules.base import Module, ModuleArgs, ModuleContext, ModuleResult
from deployplay.runner.ledger import (
    Ledger,
    LedgerView,
    append_command,
    make_event,
    now_iso,
    parse_view,
)
from deployplay.runner.results import CommandResult, tail

_SECTION = "--deployplay-marker--"


class Push(Module):
    """Upload a release to `<path>/releases/<version>` and switch `<path>/current` to it.

    The release comes from a git ref (`git archive` on the controller), a
    directory or a tarball. Shared paths are linked in from `<path>/shared`,
    `build` and `before_switch` run inside the release, `current` is switched
    atomically, `restart` runs, old releases are pruned (never the current,
    the previous, nor the newest verified one) and the deploy is recorded in
    the host's ledger. The same release already current is `ok`. A release
    that was rolled back is bad: pushing it again needs `force: true`.

        - push:
            path: /srv/hello
            git_ref: "v{{ version }}"
            shared: [logs/, .env]
            restart: bin/stop && bin/start
            keep_releases: 5
    """

    name = "push"
    supports_check_mode = True

    class Args(ModuleArgs):
        path: str = Field(description="the deploy root on the host")
        version: str | None = Field(None, description="release name; default: from the source")
        git_ref: str | None = Field(None, description="tag, branch or commit to `git archive`")
        repo: str | None = Field(None, description="git repository; default: the playbook's")
        subdir: str | None = Field(None, description="release only this directory of git_ref")
        src: str | None = Field(None, description="a directory or tarball on the controller")
        shared: list[str] = Field(default_factory=list, description="paths linked from shared/")
        build: str | list[str] | None = Field(None, description="run in the new release")
        before_switch: str | list[str] | None = Field(None, description="run before the switch")
        restart: str | None = Field(None, description="run in the release after the switch")
        keep_releases: int = Field(5, ge=1, description="releases to keep on the host")
        force: bool = Field(False, description="push a release marked bad, or replace one")

        @model_validator(mode="after")
        def _one_source(self) -> Push.Args:
            if (self.git_ref is None) == (self.src is None):
                raise ValueError("give exactly one of git_ref or src")
            return self

        @field_validator("shared")
        @classmethod
        def _relative(cls, value: list[str]) -> list[str]:
            for item in value:
                parts = item.strip("/").split("/")
                if item.startswith("/") or ".." in parts or not item.strip("/"):
                    raise ValueError(f"shared path {item!r} must be relative, inside the release")
            return value

    def run(self, ctx: ModuleContext, args: Args) -> ModuleResult:
        try:
            source = _resolve_source(ctx, args)
        except SourceError as exc:
            return ModuleResult(failed=True, msg=str(exc))
        version = normalize_version(args.version or source.version or "")
        if not version:
            return ModuleResult(failed=True, msg=f"no version for {source.location}: set version")
        if not valid_version(version):
            return ModuleResult(failed=True, msg=f"version {version!r}: use [A-Za-z0-9._+-]")
        root = args.path.rstrip("/") or "/"
        marker_text, view = _inspect(ctx, root, version)
        view = _as_recorded(root, view, version)
        marker = parse_marker(marker_text)
        refusal = _refusal(view, version, marker, source, args.force)
        if refusal is not None:
            return refusal
        if view.current == version:
            return ModuleResult(
                msg=f"release {version} is already current",
                data=_data(root, version, view.current, source),
            )
        upload = not (version in view.releases and marker.get("content_id") == source.content_id)
        # Never prune what a rollback may need: the previous release, and where this run began.
        earlier = ctx.run_state.host(ctx.host).get(("switched", root)) or {}
        protected = {version, view.current, view.newest_verified, earlier.get("from")}
        prune = prune_candidates(sorted({*view.releases, version}), args.keep_releases, protected)
        plan = _Plan(root, version, source, view, upload, prune)
        if ctx.check_mode:
            return plan.result(
                ctx, changed=True, msg=_plan_msg(view.current, version, upload, prune)
            )
        return _release(ctx, args, plan)


@dataclass(frozen=True, slots=True)
class _Plan:
    """What push decided to do on this host."""

    root: str
    version: str
    source: ReleaseSource
    view: LedgerView
    upload: bool
    prune: list[str]

    def result(self, ctx: ModuleContext, **outcome: Any) -> ModuleResult:
        data = {**_data(self.root, self.version, self.view.current, self.source)}
        data["pruned"] = self.prune
        diff = _diff(self.root, self.view, self.version) if ctx.diff_mode else None
        return ModuleResult(data=data, diff=diff, **outcome)


def _release(ctx: ModuleContext, args: Push.Args, plan: _Plan) -> ModuleResult:
    """Upload (unless the release is already there) and switch: one remote command."""
    script = _activate_script(
        ctx, args, plan.root, plan.version, plan.source, plan.view, plan.prune
    )
    # Remember the switch before making it: if the connection drops mid-script,
    # rollback still knows where this host came from and compares with readlink.
    notes, key = ctx.run_state.host(ctx.host), ("switched", plan.root)
    previous, earlier = plan.view.current, notes.get(key)
    # A second push in the same run still rolls back to where the run started.
    before_run = earlier["from"] if earlier and earlier.get("to") == previous else previous
    notes[key] = {"from": before_run, "to": plan.version}
    if plan.upload:
        upload = _upload_lines(ctx, args, plan.root, plan.version, plan.source)
        with plan.source.stream() as stream:
            result = ctx.run("\n".join([*upload, script]), stdin=stream)
    else:
        result = ctx.run(script)
    if result.failed:
        moved = "deployplay: switched" in result.stdout
        if not moved:  # the script ended before the switch: nothing more to undo
            if earlier is None:
                notes.pop(key, None)
            else:
                notes[key] = earlier
        return plan.result(ctx, failed=True, changed=moved, msg=_step_failure(result))
    was = f" (was {previous})" if previous else ""
    pruned = f"; pruned {', '.join(plan.prune)}" if plan.prune else ""
    return plan.result(ctx, changed=True, msg=f"released {plan.version}{was}{pruned}")


def _resolve_source(ctx: ModuleContext, args: Push.Args) -> ReleaseSource:
    if args.git_ref is not None:
        repo = Path(args.repo) if args.repo else ctx.playbook_dir
        if not repo.is_absolute():
            repo = ctx.playbook_dir / repo
        return from_git(repo, args.git_ref, args.subdir)
    path = Path(args.src or "")
    return from_path(path if path.is_absolute() else ctx.playbook_dir / path)


def _inspect(ctx: ModuleContext, root: str, version: str) -> tuple[str, LedgerView]:
    """The target release's marker, `current`, the releases and the ledger: one command."""
    ledger = Ledger(ctx.run, root)
    marker = posixpath.join(release_dir(root, version), MARKER_FILE)
    result = ctx.run(f"cat {q(marker)} 2>/dev/null; echo {_SECTION}; {ledger.read_script()}")
    if result.failed:
        raise SourceError(f"cannot read the deploy root {root}: {result}")
    marker_text, _, rest = result.stdout.partition(_SECTION + "\n")
    return marker_text, parse_view(rest)


def _as_recorded(root: str, view: LedgerView, version: str) -> LedgerView:
    """The host as its ledger last recorded it, when `current` was switched to `version` by a
    run that died before recording the switch (and before restarting the service).

    Its `current` names the new release while the old one still serves; calling that
    `already current` would leave it so for good. Seen as on the recorded release, the
    push finishes the job: the switch (a no-op), the record and the restart.
    """
    history = view.history_of_current()
    if view.current != version or not history or history[-1] == version:
        return view
    return LedgerView(
        events=view.events,
        current_target=release_dir(root, history[-1]),
        releases=view.releases,
    )


def _refusal(
    view: LedgerView, version: str, marker: dict, source: ReleaseSource, force: bool
) -> ModuleResult | None:
    same = marker.get("content_id") == source.content_id
    if version in view.bad and not force and not (view.current == version and same):
        bad = view.last("bad", version) or {}
        when = f" on {bad['time']}" if bad.get("time") else ""
        return ModuleResult(
            failed=True,
            msg=f"release {version} was rolled back{when} and is marked bad; "
            "fix it under a new version, or push it again with force: true",
        )
    if view.current == version and not same:
        return ModuleResult(
            failed=True,
            msg=f"release {version} is current but holds other content "
            f"({_describe(marker)}, pushing {_short(source.content_id)}); bump the version",
        )
    if version in view.releases and marker and not same and not force:
        return ModuleResult(
            failed=True,
            msg=f"release {version} already exists on the host with other content "
            f"({_describe(marker)}, pushing {_short(source.content_id)}); "
            "bump the version, or replace it with force: true",
        )
    return None


def _upload_lines(
    ctx: ModuleContext, args: Push.Args, root: str, version: str, source: ReleaseSource
) -> list[str]:
    """Extract beside the release dir, move it into place, link shared paths, build, mark."""
    final = release_dir(root, version)
    tmp = posixpath.join(root, "releases", f".incoming.{version}.{ctx.run_state.run_id}")
    marker = {
        "version": version,
        "source": source.kind,
        "content_id": source.content_id,
        "commit": source.commit,
        "run_id": ctx.run_state.run_id,
        "time": now_iso(),
    }
    lines = [
        f"rel={q(final)}; tmp={q(tmp)}; placed=0",
        # A failed build leaves no half release behind; this path is never current here.
        'fail() { rc=$1; shift; echo "deployplay: $*" >&2; rm -rf "$tmp"; '
        '[ "$placed" = 0 ] || rm -rf "$rel"; exit "$rc"; }',
        f'mkdir -p {q(root)}/releases {q(root)}/shared && rm -rf "$tmp" && mkdir "$tmp"'
        " || fail 1 cannot create the release directory",
        f'tar -x{source.tar_flag}f - -C "$tmp" || fail $? extracting the release failed',
        'rm -rf "$rel" && mv "$tmp" "$rel" && placed=1 || fail 1 cannot move the release in place',
        *_shared_lines(root, args.shared),
    ]
    lines += [_in_rel(cmd, "build", remove=True) for cmd in commands(args.build)]
    lines.append(f"printf '%s\\n' {q(json.dumps(marker))} > \"$rel\"/{MARKER_FILE}")
    return lines


def _in_rel(command: str, step: str, *, remove: bool) -> str:
    """Run a user command inside the release; a failed build removes the half-built release."""
    cleanup = 'rm -rf "$rel"; ' if remove else ""
    return (
        f"( cd \"$rel\" && {command} ) || {{ rc=$?; echo 'deployplay: {step} failed: '{q(command)}"
        f' >&2; {cleanup}exit "$rc"; }}'
    )


def _shared_lines(root: str, shared: list[str]) -> list[str]:
    """Link each shared path into the release; create it in shared/ the first time.

    A new shared path is seeded from the release when the release has it; else
    it is made a directory when written with a trailing slash or without a dot
    in its name (`logs/`, `tmp`), an empty file otherwise (`.env`, `config.yml`).
    """
    lines: list[str] = []
    for item in shared:
        name = item.strip("/")
        is_dir = item.endswith("/") or "." not in posixpath.basename(name)
        create = 'mkdir -p "$src"' if is_dir else ': > "$src"'
        lines.append(
            f'src={q(posixpath.join(root, "shared", name))}; dst="$rel"/{q(name)}; '
            'if [ ! -e "$src" ] && [ ! -L "$src" ]; then mkdir -p "$(dirname "$src")" && '
            f'if [ -e "$dst" ]; then mv "$dst" "$src"; else {create}; fi; fi && '
            'rm -rf "$dst" && mkdir -p "$(dirname "$dst")" && ln -s "$src" "$dst" '
            f"|| fail 1 linking shared path {q(name)} failed"
        )
    return lines


def _activate_script(
    ctx: ModuleContext,
    args: Push.Args,
    root: str,
    version: str,
    source: ReleaseSource,
    view: LedgerView,
    prune: list[str],
) -> str:
    """before_switch, switch, record, restart, prune: one command."""
    ledger = Ledger(ctx.run, root)
    final = release_dir(root, version)
    fields = {
        "version": version,
        "commit": source.commit,
        "content_id": source.content_id,
        "release": final,
        "from": view.current,
        "forced": True if args.force and version in view.bad else None,
        "host": ctx.host,
    }
    deploy = make_event("deploy", ctx.run_state, **fields)
    failed = make_event("failed", ctx.run_state, step="restart", **fields)
    lines = [
        f"rel={q(final)}",
        f'[ -f "$rel"/{MARKER_FILE} ] || {{ echo \'deployplay: release {version} is '
        "incomplete on the host; push it again with force: true' >&2; exit 1; }",
        *[_in_rel(cmd, "before_switch", remove=False) for cmd in commands(args.before_switch)],
        # A run whose controller is gone (killed, disconnected) dies here of SIGPIPE, before
        # the switch: never switch a host behind a dead run's back, without restart or record.
        "echo 'deployplay: switching'",
        switch_script(root, version, ctx.run_state.run_id),
        "echo 'deployplay: switched'",
        f"{ledger.append_script(deploy)} || echo 'deployplay: could not write the ledger' >&2",
    ]
    if args.restart:
        lines.append(
            f'( cd "$rel" && {args.restart} ) || {{ rc=$?; '
            f"{append_command(ledger.history_path, failed)}; "
            f"echo 'deployplay: restart failed: '{q(args.restart)} >&2; exit $rc; }}"
        )
    if prune:
        paths = " ".join(q(release_dir(root, name)) for name in prune)
        # A release that cannot be pruned is no reason to fail a deploy that worked.
        lines.append(f"rm -rf -- {paths} || echo 'deployplay: pruning failed' >&2; true")
    return "\n".join(lines)


def _step_failure(result: CommandResult) -> str:
    """The step that failed and the tail of its output, not the whole script."""
    lines = result.stderr.strip().splitlines()
    said = [line.removeprefix("deployplay: ") for line in lines if line.startswith("deployplay: ")]
    headline = said[-1] if said else f"exit code {result.exit_code}"
    said_by_user = [
        line
        for line in (result.stdout + "\n" + result.stderr).splitlines()
        if line.strip() and not line.startswith("deployplay: ")
    ]
    output = tail("\n".join(said_by_user), 15)
    return f"{headline}\n{output}" if output else headline


def _plan_msg(current: str | None, version: str, upload: bool, prune: list[str]) -> str:
    action = f"replace release {current} with {version}" if current else f"release {version}"
    how = "upload and switch" if upload else "switch to the release already on the host"
    pruned = f"; prune {', '.join(prune)}" if prune else ""
    return f"would {action} ({how}){pruned}"


def _diff(root: str, view: LedgerView, version: str) -> list[dict]:
    link = posixpath.join(root, "current")
    before = f"{view.current_target}\n" if view.current_target else ""
    return [
        {
            "before_header": f"{link} (symlink)",
            "after_header": f"{link} (symlink)",
            "before": before,
            "after": f"{release_dir(root, version)}\n",
        }
    ]


def _data(root: str, version: str, previous: str | None, source: ReleaseSource) -> dict:
    return {
        "version": version,
        "release_dir": release_dir(root, version),
        "previous": previous,
        "commit": source.commit,
        "content_id": source.content_id,
    }


def _describe(marker: dict) -> str:
    if not marker:
        return "no release marker"
    return f"has {_short(str(marker.get('commit') or marker.get('content_id')))}"


def _short(content_id: str) -> str:
    return content_id.removeprefix("sha256:")[:12]
