"""The command line: click commands, and the one place where errors become exit codes.

    0   all ok
    2   a host failed (or a failure handler failed)
    3   a playbook, inventory or argument error, found before any host was touched
    4   a host was unreachable (wins over 2, as in ansible-playbook)
    99  interrupted (Ctrl-C)
    1   an internal error: a bug; the traceback goes to a log file whose path is printed

Only click is imported at module level: `deployplay --version` must stay fast.
Everything else is imported inside the commands.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

EXIT_OK, EXIT_INTERNAL, EXIT_USER, EXIT_INTERRUPTED = 0, 1, 3, 99


def _version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        from deployplay import __version__

        click.echo(f"deployplay {__version__}")
        ctx.exit(0)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version", is_flag=True, expose_value=False, is_eager=True, callback=_version,
    help="Show the version and exit.",
)  # fmt: skip
def cli() -> None:
    """Run YAML playbooks of deployment steps against hosts over SSH, built for safe releases."""


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the command, turn what happened into the exit code."""
    try:
        code = cli.main(args=argv, prog_name="deployplay", standalone_mode=False)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.UsageError as exc:
        exc.show()
        code = EXIT_USER
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        code = EXIT_INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        code = EXIT_USER
    sys.exit(code if isinstance(code, int) else EXIT_OK)


def guarded(verbosity: int, action: Callable[[], int]) -> int:
    """Run a command's body; user errors are one line and exit 3, bugs go to a log file."""
    from deployplay.errors import DeployplayError, Interrupted, UserError

    try:
        return action()
    except UserError as exc:
        _user_error(exc, verbosity)
        return EXIT_USER
    except (Interrupted, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except DeployplayError as exc:
        # A host problem that escaped the executor: still a clear line, but it is our bug.
        return _internal_error(exc)
    except Exception as exc:
        return _internal_error(exc)


def _user_error(exc: BaseException, verbosity: int) -> None:
    if verbosity >= 3:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    click.echo(f"error: {' '.join(str(exc).split())}", err=True)


def _internal_error(exc: BaseException) -> int:
    import tempfile
    import traceback

    with tempfile.NamedTemporaryFile(
        "w", prefix="deployplay-crash-", suffix=".log", delete=False, encoding="utf-8"
    ) as handle:
        traceback.print_exception(exc, file=handle)
    click.echo(f"internal error: {type(exc).__name__}: {exc}", err=True)
    click.echo(f"this is a bug in deployplay; the traceback is in {handle.name}", err=True)
    return EXIT_INTERNAL


@cli.command("run")
@click.argument("playbook", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-i", "--inventory", help="Inventory name (inventories/NAME.yml) or path.")
@click.option("-e", "--extra-vars", multiple=True, help="k=v, JSON/YAML, or @file.yml.")
@click.option("-l", "--limit", help="Narrow every play to hosts matching this pattern.")
@click.option("-t", "--tags", multiple=True, help="Run only tasks with these tags.")
@click.option("--skip-tags", multiple=True, help="Skip tasks with these tags.")
@click.option("-C", "--check", is_flag=True, help="Dry run: report what would change.")
@click.option("-D", "--diff", is_flag=True, help="Show file and symlink changes.")
@click.option("-f", "--forks", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), help="JSON report.")
@click.option("-v", "--verbose", count=True, help="-v results, -vv output, -vvv tracebacks.")
@click.option("--accept-new-host-keys", is_flag=True, help="Trust hosts not in known_hosts yet.")
@click.option("--known-hosts", multiple=True, type=click.Path(path_type=Path))
@click.option("--force-promotion", metavar="REASON", help="Skip the promotion gate (recorded).")
def run_command(playbook: Path, verbose: int, report: Path | None, **options: Any) -> int:
    """Run PLAYBOOK against the hosts of an inventory."""

    def body() -> int:
        from deployplay.runner.launch import launch_run

        return launch_run(playbook, verbose, report, options)

    return guarded(verbose, body)


@cli.command("check")
@click.argument("playbook", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-i", "--inventory", help="Also check the plays' host patterns against it.")
@click.option("-v", "--verbose", count=True)
def check_command(playbook: Path, inventory: str | None, verbose: int) -> int:
    """Parse and validate PLAYBOOK without touching any host."""

    def body() -> int:
        from deployplay.runner.launch import check_playbook

        click.echo(check_playbook(playbook, inventory))
        return 0

    return guarded(verbose, body)


@cli.command("list-hosts")
@click.argument("pattern", default="all")
@click.option("-i", "--inventory", help="Inventory name or path.")
@click.option("-l", "--limit", help="Narrow to hosts matching this pattern.")
def list_hosts_command(pattern: str, inventory: str | None, limit: str | None) -> int:
    """List the hosts PATTERN matches, in inventory order."""

    def body() -> int:
        from deployplay.runner.inventory import Inventory

        loaded = Inventory.load(inventory, playbook_dir=None)
        loaded.check_pattern(pattern)
        for host in loaded.select(pattern, limit):
            click.echo(host.name)
        return 0

    return guarded(0, body)


@cli.command("modules")
def modules_command() -> int:
    """List every module: name, origin, what it does."""

    def body() -> int:
        from deployplay.runner.launch import module_catalogue

        for line in module_catalogue(Path.cwd()):
            click.echo(line)
        return 0

    return guarded(0, body)


@cli.command("doc")
@click.argument("name")
def doc_command(name: str) -> int:
    """Show one module's description and arguments."""

    def body() -> int:
        from deployplay.runner.launch import module_doc

        click.echo(module_doc(Path.cwd(), name))
        return 0

    return guarded(0, body)


def _register_release_commands() -> None:
    # release_commands imports only click and the standard library at module level,
    # so registering it here keeps `deployplay --version` fast.
    from deployplay.release_commands import history_command, init_command, rollback_command

    for command in (history_command, rollback_command, init_command):
        cli.add_command(command)


_register_release_commands()
