"""What the CLI commands do, wired together (cli.py only parses options and maps errors).

`launch_run` loads and checks everything a run needs before any host is
touched (a problem there is a UserError: exit 3), then runs the playbook.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from deployplay.errors import ModuleError
from deployplay.modules.registry import ModuleRegistry
from deployplay.runner.context import Connections, RunContext, RunOptions, RunState
from deployplay.runner.inventory import Inventory
from deployplay.runner.model import Playbook, iter_tasks, load_playbook
from deployplay.runner.play import hosts_pattern, run_playbook
from deployplay.runner.report import JsonReport, write_report
from deployplay.runner.reporting import ConsoleReporter, FanOut, Reporter
from deployplay.runner.templating import check_template_syntax, is_template
from deployplay.runner.variables import VariableManager, parse_extra_vars


def _split(values: tuple[str, ...]) -> tuple[str, ...]:
    """--tags a,b --tags c -> (a, b, c)."""
    return tuple(t.strip() for value in values for t in value.split(",") if t.strip())


def launch_run(
    playbook_path: Path, verbosity: int, report: Path | None, options: dict[str, Any]
) -> int:
    registry = ModuleRegistry.discover(playbook_path.parent)
    playbook = load_playbook(playbook_path, registry)
    inventory = Inventory.load(options["inventory"], playbook_dir=playbook_path.parent)
    extra_vars = parse_extra_vars(options.get("extra_vars") or (), Path.cwd())
    for play in playbook.plays:
        inventory.check_pattern(hosts_pattern(play, extra_vars), play.location)
    if options.get("limit"):
        inventory.check_pattern(options["limit"])
    run_options = RunOptions(
        limit=options.get("limit"),
        tags=_split(options.get("tags") or ()),
        skip_tags=_split(options.get("skip_tags") or ()),
        check=bool(options.get("check")),
        diff=bool(options.get("diff")),
        forks=int(options.get("forks") or 20),
        verbosity=verbosity,
        extra_vars=extra_vars,
        accept_new_host_keys=bool(options.get("accept_new_host_keys")),
        known_hosts=tuple(Path(p) for p in options.get("known_hosts") or ()),
        force_promotion=options.get("force_promotion"),
    )
    run_state = RunState(force_promotion=run_options.force_promotion)
    json_report = JsonReport(run_state.run_id) if report is not None else None
    console = ConsoleReporter(verbosity=verbosity)
    reporter: Reporter = FanOut(console, json_report) if json_report else console
    ctx = build_context(playbook, inventory, registry, run_options, reporter, run_state)
    for play in playbook.plays:
        # A missing vars file is found now, before any host is touched (exit 3).
        if not is_template(str(play.vars_files)):
            ctx.variables.load_play_vars_files(play)
    code = run_playbook(ctx, playbook)
    if json_report is not None and report is not None:
        try:
            write_report(report, json_report.document(code))
        except OSError as exc:
            # The run is over and its exit code stands; the missing report is said loudly.
            console.on_warning(f"cannot write the report {report}: {exc.strerror or exc}")
    return code


def build_context(
    playbook: Playbook,
    inventory: Inventory,
    registry: ModuleRegistry,
    options: RunOptions,
    reporter: Reporter,
    run_state: RunState | None = None,
) -> RunContext:
    """A RunContext whose connections open from the inventory's settings on first use."""
    from deployplay.runner.connections import open_connection

    playbook_dir = Path(playbook.path).parent
    variables = VariableManager(
        inventory, options.extra_vars, playbook_dir, check_mode=options.check
    )

    def opener(host: str, user: str | None = None) -> Any:
        settings = inventory.connection_settings(host)
        if user is not None:
            settings = replace(settings, user=user)  # the play's remote_user
        return open_connection(settings, options)

    return RunContext(
        options=options,
        inventory=inventory,
        variables=variables,
        registry=registry,
        reporter=reporter,
        connections=Connections(opener),
        run_state=run_state or RunState(),
        playbook_dir=playbook_dir,
    )


def check_playbook(playbook_path: Path, inventory_source: str | None) -> str:
    """`deployplay check`: everything but running; returns the summary line."""
    registry = ModuleRegistry.discover(playbook_path.parent)
    playbook = load_playbook(playbook_path, registry)
    tasks = 0
    for play in playbook.plays:
        for task in iter_tasks(play):
            tasks += 1
            _check_templates(task)
    if inventory_source is not None:
        inventory = Inventory.load(inventory_source, playbook_dir=playbook_path.parent)
        for play in playbook.plays:
            inventory.check_pattern(play.hosts, play.location)
    plays = len(playbook.plays)
    return f"{playbook_path}: ok ({plays} play{'s' * (plays != 1)}, {tasks} tasks)"


def _check_templates(task: Any) -> None:
    # Loading compiled the arguments and the conditions already (model_parser); these
    # keywords are templated only when the task runs, so `check` compiles them here.
    for value in (task.loop, task.vars, task.environment):
        if value is not None:
            check_template_syntax(value, task.location)


def module_catalogue(cwd: Path) -> Iterator[str]:
    registry = ModuleRegistry.discover(cwd)
    rows = []
    for name in registry.names():
        try:
            summary = _summary(registry.get(name))
        except ModuleError as exc:
            summary = f"(cannot be loaded: {exc.message})"
        rows.append((name, registry.origin(name), summary))
    name_width = max((len(r[0]) for r in rows), default=0)
    origin_width = max((len(r[1]) for r in rows), default=0)
    for name, origin, summary in rows:
        yield f"{name:<{name_width}}  {origin:<{origin_width}}  {summary}"


def _summary(module_cls: type) -> str:
    doc = inspect.getdoc(module_cls) or ""
    return doc.splitlines()[0] if doc else ""


def module_doc(cwd: Path, name: str) -> str:
    """The module's docstring, then one line per argument from its Args model."""
    registry = ModuleRegistry.discover(cwd)
    module_cls = registry.get(name)
    lines = [f"{name} ({registry.origin(name)})", "", inspect.getdoc(module_cls) or "", ""]
    facts = []
    if module_cls.supports_check_mode:
        facts.append("supports check mode")
    if module_cls.read_only:
        facts.append("read-only")
    facts.append(f"runs on the {module_cls.runs_on}")
    lines += [", ".join(facts), "", "Arguments:"]
    fields = module_cls.Args.model_fields
    if not fields:
        lines.append("  (none)")
    for field_name, field in fields.items():
        shown = field.alias or field_name
        kind = _type_name(field.annotation)
        required = "required" if field.is_required() else f"default: {field.default!r}"
        free = " (free form)" if module_cls.free_form == field_name else ""
        lines.append(f"  {shown}: {kind}, {required}{free}")
        if field.description:
            lines.append(f"      {field.description}")
    return "\n".join(lines)


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) or str(annotation)
    return text.replace("typing.", "")
