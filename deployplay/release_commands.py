"""The release commands: `history`, `rollback` and `init`, as functions and click commands.

    deployplay history -i prod [--limit web*] [--json] [--path /srv/app]
    deployplay rollback -i prod [--to 1.4.1] [--limit web-2]
    deployplay init [DIR] [--force]

History reads each host's ledger (`<deploy_path>/.deployplay/history.jsonl`
and the `current` symlink) over its own connection: the hosts are the source
of truth. The deploy root is the host's `deploy_path` variable, the one the
shipped playbooks use, unless `--path` is given. Rollback runs
playbooks/rollback.yml (the project's own, else the one deployplay ships)
through the same runner as `deployplay run`. Init copies deployplay/scaffold/.

cli.py imports this module lazily (inside its command hook), so click is the
only import here at load time and `deployplay --version` stays fast.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from deployplay.runner.connections.base import Connection
    from deployplay.runner.context import RunOptions
    from deployplay.runner.inventory import Inventory
    from deployplay.runner.ledger import LedgerView

# The inventory variable naming a host's deploy root, in every shipped playbook and inventory.
DEPLOY_PATH_VAR = "deploy_path"
SCAFFOLD_DIR = Path(__file__).parent / "scaffold"
EXIT_OK, EXIT_FAILED, EXIT_UNREACHABLE = 0, 2, 4


# -- history ----------------------------------------------------------------------------


@dataclass(slots=True)
class HostHistory:
    """One row of `deployplay history`: what a host runs and how it got there."""

    host: str
    path: str
    current: str | None = None
    previous: str | None = None
    how: str | None = None  # the event that made `current` current: deploy or rollback
    time: str | None = None
    user: str | None = None
    controller: str | None = None
    verified: bool = False
    bad: bool = False
    releases: list[str] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def history_from_view(host: str, path: str, view: LedgerView) -> HostHistory:
    """A history row from what the host's ledger and `current` say (no remote commands)."""
    row = HostHistory(host=host, path=path, current=view.current, releases=list(view.releases))
    if view.current is None:
        return row
    row.previous = view.previous
    row.verified = view.current in view.verified
    row.bad = view.current in view.bad
    # The switch that made `current` what it is: the last deploy or rollback to it.
    for record in reversed(view.events):
        if record["event"] in ("deploy", "rollback") and record.get("version") == view.current:
            row.how = record["event"]
            row.time, row.user = record.get("time"), record.get("user")
            row.controller = record.get("controller")
            break
    return row


def deploy_paths(
    inventory: Inventory,
    hosts: list[str],
    *,
    path: str | None = None,
    extra_vars: dict[str, Any] | None = None,
) -> dict[str, str]:
    """Each host's deploy root: `path` if given, else its templated `deploy_path` variable.

    Raises InventoryError (exit 3, before any host is touched) for a host without one.
    """
    from deployplay.errors import InventoryError
    from deployplay.runner.variables import VariableManager

    if path:
        return dict.fromkeys(hosts, path)
    manager = VariableManager(inventory, extra_vars or {}, Path.cwd())
    paths: dict[str, str] = {}
    for host in hosts:
        view = manager.host_view(host)
        if DEPLOY_PATH_VAR not in view:
            raise InventoryError(
                f"host '{host}' has no {DEPLOY_PATH_VAR} variable, so its deploy root is unknown",
                hint=f"set {DEPLOY_PATH_VAR} in the inventory, or pass --path /srv/app",
            )
        paths[host] = str(view[DEPLOY_PATH_VAR])
    return paths


def read_history(
    paths: dict[str, str],
    connect: Any,
    *,
    forks: int = 20,
) -> list[HostHistory]:
    """Read every host's ledger in parallel; a host that cannot be read gets a row with `error`.

    `connect(host) -> Connection`; connections opened here are closed here.
    """
    from concurrent.futures import ThreadPoolExecutor

    from deployplay.errors import DeployplayError
    from deployplay.runner.ledger import Ledger

    def one(host: str) -> HostHistory:
        connection: Connection | None = None
        try:
            connection = connect(host)
            return history_from_view(host, paths[host], Ledger(connection, paths[host]).read())
        except DeployplayError as exc:
            return HostHistory(host=host, path=paths[host], error=" ".join(str(exc).split()))
        finally:
            if connection is not None:
                _close(connection)

    hosts = list(paths)
    if not hosts:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(forks, len(hosts)))) as pool:
        return list(pool.map(one, hosts))


def _close(connection: Connection) -> None:
    try:
        connection.close()
    except Exception:  # closing is best effort: the table matters more than a dead socket
        return


def format_history(rows: list[HostHistory]) -> str:
    """The history table, one host a line, in inventory order."""
    header = ("HOST", "CURRENT", "PREVIOUS", "VERIFIED", "HOW", "WHEN", "BY")
    lines = [header]
    for row in rows:
        if row.error:
            lines.append((row.host, "?", "?", "?", "-", "-", f"cannot read: {row.error}"))
            continue
        if row.current is None:
            lines.append((row.host, "-", "-", "-", "-", "-", "nothing deployed"))
            continue
        verified = "BAD" if row.bad else ("yes" if row.verified else "no")
        who = f"{row.user}@{row.controller}" if row.user and row.controller else row.user
        lines.append(
            (
                row.host,
                row.current,
                row.previous or "-",
                verified,
                row.how or "-",
                row.time or "-",
                who or "-",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False))
        + "  "
        + line[-1]
        for line in lines
    ).rstrip()


def history(
    inventory_source: str,
    *,
    limit: str | None = None,
    path: str | None = None,
    extra_vars: tuple[str, ...] = (),
    options: RunOptions | None = None,
) -> list[HostHistory]:
    """`deployplay history`: load the inventory, resolve deploy roots, read every ledger."""
    from deployplay.runner.connections import open_connection
    from deployplay.runner.context import RunOptions
    from deployplay.runner.inventory import Inventory
    from deployplay.runner.variables import parse_extra_vars

    inventory = Inventory.load(inventory_source, playbook_dir=_playbooks_dir())
    if limit:
        inventory.check_pattern(limit)
    hosts = [h.name for h in inventory.select("all", limit)]
    parsed = parse_extra_vars(extra_vars, Path.cwd())
    paths = deploy_paths(inventory, hosts, path=path, extra_vars=parsed)
    run_options = options or RunOptions()

    def connect(host: str) -> Connection:
        return open_connection(inventory.connection_settings(host), run_options)

    return read_history(paths, connect, forks=run_options.forks)


def _playbooks_dir() -> Path | None:
    """playbooks/ in the working directory: group_vars/ beside the playbooks count too."""
    candidate = Path.cwd() / "playbooks"
    return candidate if candidate.is_dir() else None


# -- rollback ---------------------------------------------------------------------------


def rollback_playbook(cwd: Path | None = None) -> Path:
    """The project's playbooks/rollback.yml, else the one deployplay ships."""
    own = (cwd or Path.cwd()) / "playbooks" / "rollback.yml"
    return own if own.is_file() else SCAFFOLD_DIR / "playbooks" / "rollback.yml"


def rollback_options(
    inventory_source: str,
    *,
    to: str | None = None,
    reason: str | None = None,
    limit: str | None = None,
    extra_vars: tuple[str, ...] = (),
    **run_options: Any,
) -> dict[str, Any]:
    """The options `deployplay run` would get for the rollback playbook (see launch_run)."""
    wanted: dict[str, str] = {}
    if to:
        wanted["rollback_to"] = to
    if reason:
        wanted["rollback_reason"] = reason
    # The rollback target goes last so that it wins over a stray -e rollback_to.
    extra = (*extra_vars, json.dumps(wanted)) if wanted else tuple(extra_vars)
    return {"inventory": inventory_source, "limit": limit, "extra_vars": extra, **run_options}


def rollback(
    inventory_source: str,
    *,
    playbook: Path | None = None,
    verbosity: int = 0,
    report: Path | None = None,
    **options: Any,
) -> int:
    """`deployplay rollback`: run the rollback playbook like `deployplay run`; its exit code."""
    from deployplay.runner.launch import launch_run

    path = playbook or rollback_playbook()
    return launch_run(path, verbosity, report, rollback_options(inventory_source, **options))


# -- init -------------------------------------------------------------------------------


def scaffold_files() -> list[Path]:
    """The scaffold's files, relative to the scaffold directory, sorted."""
    return sorted(
        p.relative_to(SCAFFOLD_DIR)
        for p in SCAFFOLD_DIR.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )


def init_project(dest: Path, *, force: bool = False) -> list[Path]:
    """Copy playbooks/, inventories/ and playbooks/modules/ into `dest`; the files written.

    Nothing is written when a file exists already, unless `force`: a UserError
    names them all.
    """
    from deployplay.errors import UserError

    if not dest.is_dir():
        raise UserError(
            f"{dest} is not a directory", hint="run deployplay init in your service's repository"
        )
    files = scaffold_files()
    existing = [rel for rel in files if (dest / rel).exists()]
    if existing and not force:
        shown = ", ".join(str(rel) for rel in existing[:5])
        more = f" and {len(existing) - 5} more" if len(existing) > 5 else ""
        raise UserError(
            f"refusing to overwrite {shown}{more} in {dest}",
            hint="move them aside, or pass --force to replace them",
        )
    for rel in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SCAFFOLD_DIR / rel, target)
    return files


# -- click commands (cli.py adds them with cli.add_command) -----------------------------


def _guarded(verbosity: int, action: Any) -> int:
    from deployplay.cli import guarded

    return guarded(verbosity, action)


@click.command("history")
@click.option("-i", "--inventory", required=True, help="Inventory name or path.")
@click.option("-l", "--limit", help="Only hosts matching this pattern.")
@click.option("--path", help=f"Deploy root on every host (default: its {DEPLOY_PATH_VAR} var).")
@click.option("-e", "--extra-vars", multiple=True, help="k=v, JSON/YAML, or @file.yml.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--accept-new-host-keys", is_flag=True, help="Trust hosts not in known_hosts yet.")
@click.option("--known-hosts", multiple=True, type=click.Path(path_type=Path))
def history_command(
    inventory: str,
    limit: str | None,
    path: str | None,
    extra_vars: tuple[str, ...],
    as_json: bool,
    accept_new_host_keys: bool,
    known_hosts: tuple[Path, ...],
) -> int:
    """Show what version runs on each host, what ran before, who deployed it, verified or not."""

    def body() -> int:
        from deployplay.runner.context import RunOptions

        options = RunOptions(accept_new_host_keys=accept_new_host_keys, known_hosts=known_hosts)
        rows = history(inventory, limit=limit, path=path, extra_vars=extra_vars, options=options)
        if as_json:
            click.echo(json.dumps([row.as_dict() for row in rows], indent=2))
        else:
            click.echo(format_history(rows))
        return EXIT_UNREACHABLE if any(row.error for row in rows) else EXIT_OK

    return _guarded(0, body)


@click.command("rollback")
@click.option("-i", "--inventory", required=True, help="Inventory name or path.")
@click.option("--to", "to", metavar="VERSION", help="Roll back to this release.")
@click.option("-l", "--limit", help="Only hosts matching this pattern.")
@click.option("--reason", help="Recorded in each host's ledger.")
@click.option("-e", "--extra-vars", multiple=True, help="k=v, JSON/YAML, or @file.yml.")
@click.option(
    "--playbook",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Default: playbooks/rollback.yml, else the one deployplay ships.",
)
@click.option("-C", "--check", is_flag=True, help="Dry run: report what would change.")
@click.option("-f", "--forks", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), help="JSON report.")
@click.option("-v", "--verbose", count=True, help="-v results, -vv output, -vvv tracebacks.")
@click.option("--accept-new-host-keys", is_flag=True, help="Trust hosts not in known_hosts yet.")
@click.option("--known-hosts", multiple=True, type=click.Path(path_type=Path))
def rollback_command(
    inventory: str, verbose: int, report: Path | None, playbook: Path | None, **options: Any
) -> int:
    """Roll hosts back to their previous release (or --to VERSION) and verify them."""

    def body() -> int:
        return rollback(inventory, playbook=playbook, verbosity=verbose, report=report, **options)

    return _guarded(verbose, body)


@click.command("init")
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace files that exist already.")
def init_command(directory: Path, force: bool) -> int:
    """Add playbooks/, inventories/ and playbooks/modules/ to a service repository."""

    def body() -> int:
        for rel in init_project(directory, force=force):
            click.echo(f"created {directory / rel}")
        click.echo(
            "next: edit inventories/*.yml and inventories/group_vars/all.yml, then try\n"
            "  deployplay check playbooks/release.yml -i staging\n"
            "  deployplay run playbooks/release.yml -i local --limit staging"
        )
        return EXIT_OK

    return _guarded(0, body)
