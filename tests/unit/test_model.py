"""The playbook model: validation with file:line:col, normalisation, imports, free-form args."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest
from pydantic import ConfigDict

from deployplay.errors import Location, ModuleError, PlaybookError, TemplateError, UserError
from deployplay.modules.base import Module, ModuleArgs
from deployplay.modules.registry import ModuleRegistry
from deployplay.runner.model import (
    Block,
    Handler,
    LoopControl,
    Play,
    Playbook,
    Task,
    effective_tags,
    iter_tasks,
    load_playbook,
    load_task_file,
    walk_tasks,
)
from deployplay.runner.play import rendered_play

CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "broken"


class Command(Module):
    name = "command"
    free_form = "cmd"

    class Args(ModuleArgs):
        cmd: str
        chdir: str | None = None
        creates: str | None = None


class Shell(Command):
    name = "shell"


class Debug(Module):
    name = "debug"

    class Args(ModuleArgs):
        msg: str = "Hello world!"
        var: str | None = None
        verbosity: int = 0


class SetFact(Module):
    name = "set_fact"

    class Args(ModuleArgs):
        model_config = ConfigDict(extra="allow")


class Meta(Module):
    name = "meta"
    free_form = "action"

    class Args(ModuleArgs):
        action: str


REGISTRY = ModuleRegistry.from_classes([Command, Shell, Debug, SetFact, Meta])


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def load(directory: Path, text: str, name: str = "play.yml") -> Playbook:
    return load_playbook(write(directory, name, text), REGISTRY)


def error_of(directory: Path, text: str, name: str = "play.yml") -> UserError:
    with pytest.raises(UserError) as caught:
        load(directory, text, name)
    assert "\n" not in str(caught.value)
    return caught.value


def only_task(playbook: Playbook) -> Task:
    (task,) = playbook.plays[0].tasks
    assert isinstance(task, Task)
    return task


def task_with(tmp_path: Path, lines: str) -> Task:
    """Load a play with one task made of `lines` (YAML at task indentation)."""
    body = textwrap.indent(textwrap.dedent(lines).strip(), "      ")
    text = f"- hosts: web\n  tasks:\n    - {body.lstrip()}\n"
    text += "  handlers:\n    - name: restart\n      command: systemctl restart app\n"
    return only_task(load_playbook(write(tmp_path, "play.yml", text), REGISTRY))


# -- the broken-input corpus ------------------------------------------------------


CASES = sorted(path.stem for path in CORPUS.glob("*.expected"))


def test_the_corpus_is_there() -> None:
    assert len(CASES) >= 11
    assert all((CORPUS / f"{case}.yml").is_file() for case in CASES)


@pytest.mark.parametrize("case", CASES)
def test_broken_corpus(case: str) -> None:
    expected = (CORPUS / f"{case}.expected").read_text().strip()
    with pytest.raises(UserError) as caught:
        load_playbook(CORPUS / f"{case}.yml", REGISTRY)
    message = str(caught.value)
    assert "\n" not in message
    assert expected in message
    assert caught.value.location is not None
    assert caught.value.location.line >= 1


# -- plays ------------------------------------------------------------------------


def test_a_play_and_its_fields(tmp_path: Path) -> None:
    playbook = load(
        tmp_path,
        """\
        - name: deploy web
          hosts: [web, db]
          vars: {app: hello}
          vars_files: vars/common.yml
          serial: [1, "25%", "100%"]
          max_fail_percentage: "20%"
          any_errors_fatal: yes
          become: "{{ use_sudo }}"
          remote_user: deploy
          tags: release, web
          environment: {LANG: C}
          gather_facts: false
          tasks:
            - command: ls /srv
        """,
    )
    assert playbook.path == tmp_path / "play.yml"
    (play,) = playbook.plays
    assert play.name == "deploy web"
    assert play.hosts == "web:db"
    assert play.location == Location(str(tmp_path / "play.yml"), 1, 3)
    assert play.vars == {"app": "hello"}
    assert play.vars_files == ("vars/common.yml",)
    assert play.serial == (1, "25%", "100%")
    assert play.max_fail_percentage == 20
    assert play.any_errors_fatal is True
    assert play.become == "{{ use_sudo }}"
    assert play.remote_user == "deploy"
    assert play.tags == ("release", "web")
    assert play.environment == {"LANG": "C"}
    assert play.gather_facts is False
    assert play.force_handlers is None
    assert play.path == tmp_path / "play.yml"


def test_a_play_without_a_name_is_named_by_its_hosts(tmp_path: Path) -> None:
    play = load(tmp_path, "- hosts: web\n").plays[0]
    assert play.name == "web"
    assert play.tasks == () and play.handlers == () and play.serial is None


@pytest.mark.parametrize(
    ("written", "serial"),
    [
        ("3", (3,)),
        ("'5'", (5,)),
        ("'25%'", ("25%",)),
        ("'12.5%'", ("12.5%",)),
        ("[1, 2]", (1, 2)),
        ("'{{ plan }}'", ("{{ plan }}",)),
        ("['{{ canary }}', '50%']", ("{{ canary }}", "50%")),
    ],
)
def test_serial_forms(tmp_path: Path, written: str, serial: tuple[int | str, ...]) -> None:
    assert load(tmp_path, f"- hosts: web\n  serial: {written}\n").plays[0].serial == serial


def test_templated_serial_and_budget_render_with_play_and_extra_vars(tmp_path: Path) -> None:
    text = """\
        - hosts: web
          vars: {plan: [1, '25%'], budget: '30%'}
          serial: ['{{ plan }}', '{{ last }}']
          max_fail_percentage: '{{ budget }}'
        """
    play = rendered_play(load(tmp_path, text).plays[0], {"last": "100%"})
    assert play.serial == (1, "25%", "100%")
    assert play.max_fail_percentage == 30
    bad = dataclasses.replace(play, serial=("{{ last }}",))
    with pytest.raises(PlaybookError, match=r"play.yml:1:3: play: 'serial' must be .* got 0"):
        rendered_play(bad, {"last": 0})


@pytest.mark.parametrize("written", ["many", "0", "-1", "'0%'", "'150%'", "true", "[]", "{a: 1}"])
def test_bad_serial(tmp_path: Path, written: str) -> None:
    error = error_of(tmp_path, f"- hosts: web\n  serial: {written}\n")
    assert isinstance(error, PlaybookError)
    assert str(error).startswith(f"{tmp_path / 'play.yml'}:2:3: play \"web\": 'serial'")


@pytest.mark.parametrize("written", ["150", "lots", "-5"])
def test_bad_max_fail_percentage(tmp_path: Path, written: str) -> None:
    error = error_of(tmp_path, f"- hosts: web\n  max_fail_percentage: {written}\n")
    assert "'max_fail_percentage'" in str(error)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- name: x\n", "1:3: play \"x\": 'hosts' is missing"),
        ("- hosts: ''\n", "1:3: play: 'hosts' must be a host pattern"),
        ("- hosts: [web, 1]\n", "1:3: play: 'hosts' must be a host pattern"),
        ("- hosts: web\n  tags: {a: 1}\n", "2:3: play \"web\": 'tags' must be a name or a list"),
        ("- hosts: web\n  vars: [a]\n", "2:3: play \"web\": 'vars' must be a mapping, got a list"),
        ("- hosts: web\n  tasks: {a: 1}\n", "2:3: play \"web\": 'tasks' must be a list of tasks"),
        ("- hosts: web\n  become: maybe\n", "2:3: play \"web\": 'become' must be true or false"),
        ("- hosts: web\n  remote_user: [a]\n", "2:3: play \"web\": 'remote_user' must be a string"),
        ("- hosts: web\n  hanlders: []\n", "2:3: play \"web\": unknown keyword 'hanlders'"),
        ("- hosts: web\n  tasks:\n    - command\n", "3:7: a task must be a mapping, got a string"),
        ("- web\n", "1:3: playbook: a play must be a mapping, got a string"),
        ("[]\n", "1: the playbook has no plays"),
        ("", "1: the playbook has no plays"),
    ],
)
def test_play_errors_point_into_the_file(tmp_path: Path, text: str, expected: str) -> None:
    assert f"play.yml:{expected}" in str(error_of(tmp_path, text))


def test_a_module_at_play_level_is_explained(tmp_path: Path) -> None:
    error = error_of(tmp_path, "- hosts: web\n  command: ls\n")
    assert error.hint == "'command' is a module: it belongs in a task"


# -- tasks ------------------------------------------------------------------------


def test_a_task_and_its_fields(tmp_path: Path) -> None:
    task = task_with(
        tmp_path,
        """\
        name: list releases
        command: ls /srv
        when: release is defined
        failed_when: [result.rc > 1, false]
        changed_when: false
        notify: restart
        on_failure: restart
        tags: [a, 7]
        register: listing
        retries: "3"
        delay: 2
        until: result.rc == 0
        timeout: 1.5
        ignore_errors: "yes"
        run_once: true
        no_log: false
        check_mode: no
        become: true
        become_user: app
        delegate_to: localhost
        vars: {x: 1}
        environment: {PATH: /bin}
        """,
    )
    assert task.name == "list releases"
    assert task.module == "command"
    assert task.args == {"cmd": "ls /srv"}
    assert task.location == Location(str(tmp_path / "play.yml"), 3, 7)
    assert task.when == ("release is defined",)
    assert task.failed_when == ("result.rc > 1", False)
    assert task.changed_when == (False,)
    assert task.notify == ("restart",)
    assert task.on_failure == ("restart",)
    assert task.tags == ("a", "7")
    assert task.register == "listing"
    assert (task.retries, task.delay, task.timeout) == (3, 2, 1.5)
    assert task.until == "result.rc == 0"
    assert (task.ignore_errors, task.run_once, task.no_log, task.check_mode) == (
        True,
        True,
        False,
        False,
    )
    assert (task.become, task.become_user, task.delegate_to) == (True, "app", "localhost")
    assert task.vars == {"x": 1}
    assert task.environment == {"PATH": "/bin"}
    assert task.loop is None
    assert task.loop_control == LoopControl()


def test_unset_keywords_are_none_so_they_can_be_inherited(tmp_path: Path) -> None:
    task = task_with(tmp_path, "command: ls")
    assert task.name == "command"  # named after its module, as Ansible shows it
    for keyword in ("ignore_errors", "become", "no_log", "check_mode", "delegate_to", "run_once"):
        assert getattr(task, keyword) is None
    assert task.when == () and task.tags == () and task.notify == () and task.vars == {}


@pytest.mark.parametrize(
    ("lines", "args"),
    [
        ("command: ls /srv", {"cmd": "ls /srv"}),
        ("shell: echo hi | wc -c", {"cmd": "echo hi | wc -c"}),
        ("command: {cmd: ls, chdir: /srv}", {"cmd": "ls", "chdir": "/srv"}),
        ("command: ls\nargs: {chdir: /srv}", {"cmd": "ls", "chdir": "/srv"}),
        ("command: {cmd: ls, chdir: /a}\nargs: {chdir: /b}", {"cmd": "ls", "chdir": "/a"}),
        ("debug:", {}),
        ("meta: flush_handlers", {"action": "flush_handlers"}),
        # Ansible's key=value shorthand; free-form modules take only their known arguments.
        ("command: ls -l chdir=/srv", {"cmd": "ls -l", "chdir": "/srv"}),
        ("shell: x=1 echo $x creates='/a b'", {"cmd": "x=1 echo $x", "creates": "/a b"}),
        ("command: echo {{ a == b }}", {"cmd": "echo {{ a == b }}"}),
        ("debug: var=release", {"var": "release"}),
        (
            'debug: msg="{{ a }} and {{ b }}" verbosity=1',
            {"msg": "{{ a }} and {{ b }}", "verbosity": "1"},
        ),
        ("set_fact: colour=blue size=3", {"colour": "blue", "size": "3"}),
        ("set_fact: {release: '1.2', hosts_done: [a]}", {"release": "1.2", "hosts_done": ["a"]}),
        (
            "debug: {msg: '{{ release }}', verbosity: '{{ v }}'}",
            {"msg": "{{ release }}", "verbosity": "{{ v }}"},
        ),
    ],
)
def test_module_argument_forms(tmp_path: Path, lines: str, args: dict[str, object]) -> None:
    assert task_with(tmp_path, lines).args == args


def test_arguments_keep_their_locations(tmp_path: Path) -> None:
    task = task_with(tmp_path, "command: ls\nargs:\n  chdir: /srv")
    path = str(tmp_path / "play.yml")
    assert task.args.key_location("cmd") == Location(path, 3, 7)  # type: ignore[attr-defined]
    assert task.args.key_location("chdir") == Location(path, 5, 9)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("lines", "error_type", "expected"),
    [
        (
            "name: x\ncomand: ls",
            ModuleError,
            "4:7: task \"x\": unknown module 'comand' (did you mean 'command'?)",
        ),
        ("shel: ls", ModuleError, "3:7: task: unknown module 'shel' (did you mean 'shell'?)"),
        (
            "command: ls\nregster: out",
            PlaybookError,
            "4:7: task: unknown keyword 'regster' (did you mean 'register'?)",
        ),
        (
            "nme: x\nwhen: true",
            PlaybookError,
            "3:7: task: unknown keyword 'nme' (did you mean 'name'?)",
        ),
        ("name: x\nwhen: true", PlaybookError, '3:7: task "x": no module to run'),
        (
            "command: ls\nshell: ls",
            PlaybookError,
            "4:7: task: two modules in one task: 'command' and 'shell'",
        ),
        (
            "command: {cmd: ls, chdri: /}",
            ModuleError,
            "3:26: task \"command\": unknown argument 'chdri' (did you mean 'chdir'?)",
        ),
        (
            "command: {chdir: /}",
            ModuleError,
            "3:7: task \"command\": missing required argument 'cmd' of module 'command'",
        ),
        (
            "debug: {verbosity: high}",
            ModuleError,
            "3:15: task \"debug\": argument 'verbosity': Input should be a valid integer",
        ),
        (
            "debug: hello",
            PlaybookError,
            "3:7: task \"debug\": the arguments of 'debug' must be a mapping or key=value words",
        ),
        (
            "command: [ls]",
            PlaybookError,
            "3:7: task \"command\": 'command' takes a string or a mapping, got a list",
        ),
        (
            "command: ls\nargs: [x]",
            PlaybookError,
            "4:7: task \"command\": 'args' must be a mapping",
        ),
        ("debug: {msg: '{{ x }'}", TemplateError, '3:15: task "debug": template syntax error'),
        ("command: ls\nwhen: x ==", TemplateError, '4:7: task "command": template syntax error'),
        (
            "command: ls\nwhen: {a: 1}",
            PlaybookError,
            "4:7: task \"command\": 'when' must be a condition",
        ),
        ("command: ls\nwhen: 3", PlaybookError, "'when' must be a condition"),
        (
            "command: ls\nnotify: {a: 1}",
            PlaybookError,
            "4:7: task \"command\": 'notify' must be a name or a list",
        ),
        (
            "command: ls\nnotify: nobody",
            PlaybookError,
            "3:7: task \"command\": notify names no handler 'nobody'",
        ),
        (
            "command: ls\non_failure: [restrat]",
            PlaybookError,
            "on_failure names no handler 'restrat' (did you mean 'restart'?)",
        ),
        (
            "command: ls\nregister: my-var",
            PlaybookError,
            "4:7: task \"command\": 'register' must be a variable name",
        ),
        ("command: ls\nretries: many", PlaybookError, "'retries' must be a number of 0 or more"),
        (
            "command: ls\nloop: {a: 1}",
            PlaybookError,
            "4:7: task \"command\": 'loop' must be a list",
        ),
        (
            "command: ls\nloop: [1]\nwith_items: [2]",
            PlaybookError,
            "'loop' and 'with_items' both given",
        ),
        (
            "command: ls\nloop_control: {loopvar: x}",
            PlaybookError,
            "4:22: task \"command\": loop_control: unknown keyword 'loopvar' (did you mean",
        ),
        (
            "command: ls\nloop_control: {loop_var: 'a b'}",
            PlaybookError,
            "loop_control 'loop_var' must be a variable name",
        ),
        (
            "debug: var=x verbosty=2",
            ModuleError,
            "unknown argument 'verbosty' (did you mean 'verbosity'?)",
        ),
        ("command: chdir=/srv", ModuleError, "missing required argument 'cmd'"),
        (
            "import_playbook: other.yml",
            PlaybookError,
            "3:7: task: import_playbook belongs at the top level",
        ),
        (
            "include_tasks: {file: x.yml, when: y}",
            PlaybookError,
            "include_tasks: unknown keyword 'when'",
        ),
        (
            "include_tasks: {}",
            PlaybookError,
            '3:7: task "include_tasks": include_tasks needs a file name',
        ),
    ],
)
def test_task_errors(
    tmp_path: Path, lines: str, error_type: type[UserError], expected: str
) -> None:
    body = textwrap.indent(lines, "      ").lstrip()
    text = f"- hosts: web\n  tasks:\n    - {body}\n"
    text += "  handlers:\n    - name: restart\n      command: systemctl restart app\n"
    error = error_of(tmp_path, text)
    assert isinstance(error, error_type)
    assert expected in str(error)
    if expected[0].isdigit():
        assert str(error).startswith(f"{tmp_path / 'play.yml'}:{expected}")


def test_templated_handler_names_are_left_for_run_time(tmp_path: Path) -> None:
    assert task_with(tmp_path, "command: ls\nnotify: '{{ which }}'").notify == ("{{ which }}",)


def test_loops(tmp_path: Path) -> None:
    task = task_with(
        tmp_path,
        """\
        debug: {msg: "{{ host }}"}
        loop: [a, b]
        loop_control: {loop_var: host, index_var: i, label: "{{ host }}", pause: 1}
        """,
    )
    assert task.loop == ["a", "b"]
    assert task.loop_control == LoopControl(
        loop_var="host", index_var="i", label="{{ host }}", pause=1
    )
    assert task_with(tmp_path, "debug:\nwith_items: [1, 2]").loop == [1, 2]
    assert task_with(tmp_path, "debug:\nwith_items: [1, 2]").flatten_loop
    assert not task_with(tmp_path, "debug:\nloop: [1, 2]").flatten_loop
    assert task_with(tmp_path, "debug:\nwith_items: solo").loop == ["solo"]
    assert task_with(tmp_path, "debug:\nloop: '{{ groups.web }}'").loop == "{{ groups.web }}"


def test_include_tasks_stays_a_task(tmp_path: Path) -> None:
    task = task_with(tmp_path, "include_tasks: steps/{{ kind }}.yml\nvars: {a: 1}\nloop: [x]")
    assert task.module == "include_tasks"
    assert task.name == "include_tasks"
    assert task.args == {"file": "steps/{{ kind }}.yml"}
    assert task.vars == {"a": 1}
    assert task.loop == ["x"]
    assert task_with(tmp_path, "include_tasks: {file: more.yml}").args == {"file": "more.yml"}


# -- handlers -----------------------------------------------------------------------


def test_handlers_and_listen(tmp_path: Path) -> None:
    playbook = load(
        tmp_path,
        """\
        - hosts: web
          on_failure: roll back
          tasks:
            - command: ls
              notify: [restart app, app changed]
          handlers:
            - name: restart app
              command: systemctl restart app
            - name: roll back release
              command: rollback
              listen: [roll back, app changed]
        """,
    )
    first, second = playbook.plays[0].handlers
    assert isinstance(first, Handler) and isinstance(second, Handler)
    assert first.listen == ()
    assert second.listen == ("roll back", "app changed")
    assert playbook.plays[0].on_failure == ("roll back",)


def test_handlers_cannot_be_blocks(tmp_path: Path) -> None:
    error = error_of(tmp_path, "- hosts: web\n  handlers:\n    - block:\n        - command: ls\n")
    assert "'block' is not supported in handlers" in str(error)


def test_listen_is_a_handler_keyword_only(tmp_path: Path) -> None:
    error = error_of(tmp_path, "- hosts: web\n  tasks:\n    - command: ls\n      listen: x\n")
    assert "unknown keyword 'listen'" in str(error)


# -- blocks -------------------------------------------------------------------------


BLOCK_PLAY = """\
- hosts: web
  tasks:
    - name: release
      when: deploy | bool
      tags: release
      become: true
      on_failure: restart
      block:
        - command: ls
        - block:
            - debug: {msg: inner}
      rescue:
        - debug: {msg: rescued}
      always:
        - debug: {msg: always}
  handlers:
    - name: restart
      command: systemctl restart app
"""


def test_blocks(tmp_path: Path) -> None:
    play = load(tmp_path, BLOCK_PLAY).plays[0]
    (block,) = play.tasks
    assert isinstance(block, Block)
    assert block.name == "release"
    assert block.location == Location(str(tmp_path / "play.yml"), 3, 7)
    assert block.when == ("deploy | bool",)
    assert block.tags == ("release",)
    assert block.become is True
    assert block.on_failure == ("restart",)
    assert block.ignore_errors is None
    assert isinstance(block.block[0], Task) and isinstance(block.block[1], Block)
    assert [t.args.get("msg") for t in (*block.rescue, *block.always)] == ["rescued", "always"]


def test_walking_every_task(tmp_path: Path) -> None:
    play = load(tmp_path, BLOCK_PLAY).plays[0]
    walked = list(walk_tasks(play.tasks))
    assert [task.module for task, _ in walked] == ["command", "debug", "debug", "debug"]
    assert [len(parents) for _, parents in walked] == [1, 2, 1, 1]
    assert [t.name for t in iter_tasks(play)] == ["command", "debug", "debug", "debug", "restart"]
    assert len(list(iter_tasks(play, handlers=False))) == 4
    task, parents = walked[1]
    assert effective_tags(play, parents, task) == {"release"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- block: []\n", "block: 'block' has no tasks"),
        (
            "- block: [{command: ls}]\n  recue: []\n",
            "unknown keyword 'recue' (did you mean 'rescue'?)",
        ),
        (
            "- block: [{command: ls}]\n  command: ls\n",
            "'command' is a module: it belongs in a task",
        ),
        ("- block: [{command: ls}]\n  register: x\n", "block: unknown keyword 'register'"),
    ],
)
def test_block_errors(tmp_path: Path, text: str, expected: str) -> None:
    text = "- hosts: web\n  tasks:\n" + textwrap.indent(text, "    ")
    assert expected in str(error_of(tmp_path, text))


# -- import_tasks / include at run time ---------------------------------------------------


def test_import_tasks_becomes_a_block(tmp_path: Path) -> None:
    write(tmp_path, "tasks/steps.yml", "- command: ls\n- import_tasks: more.yml\n")
    write(tmp_path, "tasks/more.yml", "- debug: {msg: from beside the includer}\n")
    play = load(
        tmp_path,
        """\
        - hosts: web
          tasks:
            - import_tasks: tasks/steps.yml
              when: ready
              tags: [steps]
              vars: {a: 1}
        """,
    ).plays[0]
    (block,) = play.tasks
    assert isinstance(block, Block)
    assert block.when == ("ready",)
    assert block.tags == ("steps",)
    assert block.vars == {"a": 1}
    assert block.name == "import_tasks tasks/steps.yml"
    command, inner = block.block
    assert command.location == Location(str(tmp_path / "tasks/steps.yml"), 1, 3)
    assert isinstance(inner, Block)
    assert inner.block[0].location.file == str(tmp_path / "tasks/more.yml")  # type: ignore[union-attr]


def test_import_tasks_falls_back_to_the_playbook_directory(tmp_path: Path) -> None:
    write(tmp_path, "tasks/steps.yml", "- import_tasks: common.yml\n")
    write(tmp_path, "common.yml", "- command: ls\n")
    play = load(tmp_path, "- hosts: web\n  tasks:\n    - import_tasks: tasks/steps.yml\n").plays[0]
    assert [t.module for t, _ in walk_tasks(play.tasks)] == ["command"]


def test_import_tasks_errors(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", "- import_tasks: b.yml\n")
    write(tmp_path, "b.yml", "- debug:\n- import_tasks: a.yml\n")
    write(tmp_path, "mapping.yml", "command: ls\n")
    start = "- hosts: web\n  tasks:\n    - "
    loop = error_of(tmp_path, start + "import_tasks: a.yml\n")
    assert str(loop).startswith(f"{tmp_path / 'b.yml'}:2:3: import_tasks loop: ")
    assert "play.yml -> a.yml -> b.yml -> a.yml" in str(loop)
    missing = error_of(tmp_path, start + "import_tasks: nope.yml\n")
    assert str(missing).startswith(f"{tmp_path / 'play.yml'}:3:7: import_tasks: file not found")
    templated = error_of(tmp_path, start + "import_tasks: '{{ x }}.yml'\n")
    assert "cannot be templated" in str(templated)
    bad_keyword = error_of(tmp_path, start + "import_tasks: b.yml\n      loop: [1]\n")
    assert "import_tasks: unknown keyword 'loop'" in str(bad_keyword)
    not_a_list = error_of(tmp_path, start + "import_tasks: mapping.yml\n")
    assert "task file: must be a list of tasks, got a mapping" in str(not_a_list)


def test_load_task_file(tmp_path: Path) -> None:
    path = write(tmp_path, "steps.yml", "- command: ls\n- block:\n    - debug:\n")
    tasks = load_task_file(path, REGISTRY)
    assert isinstance(tasks[0], Task) and isinstance(tasks[1], Block)
    assert load_task_file(write(tmp_path, "empty.yml", "# nothing yet\n"), REGISTRY) == ()
    at = Location("play.yml", 7, 7)
    with pytest.raises(UserError) as caught:
        load_task_file(tmp_path / "nope.yml", REGISTRY, at)
    assert str(caught.value).startswith("play.yml:7:7: file not found: ")


# -- import_playbook ------------------------------------------------------------------


def test_import_playbook_expands_in_place(tmp_path: Path) -> None:
    write(
        tmp_path,
        "sub/staging.yml",
        "- hosts: staging\n  tags: [a]\n  vars: {x: 1, y: 1}\n"
        "  tasks:\n    - import_tasks: steps.yml\n",
    )
    write(tmp_path, "sub/steps.yml", "- command: ls\n")
    playbook = load(
        tmp_path,
        """\
        - hosts: controller
        - import_playbook: sub/staging.yml
          vars: {y: 2}
          tags: promote
        - hosts: prod
        """,
    )
    assert [p.hosts for p in playbook.plays] == ["controller", "staging", "prod"]
    staging = playbook.plays[1]
    assert staging.path == tmp_path / "sub/staging.yml"
    assert staging.vars == {"x": 1, "y": 2}
    assert staging.tags == ("a", "promote")
    assert playbook.plays[2].path == tmp_path / "play.yml"


def test_import_playbook_errors(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", "- import_playbook: play.yml\n")
    loop = error_of(tmp_path, "- import_playbook: a.yml\n")
    assert "import_playbook loop: play.yml -> a.yml -> play.yml" in str(loop)
    missing = error_of(tmp_path, "- hosts: web\n- import_playbook: gone.yml\n")
    assert str(missing).startswith(f"{tmp_path / 'play.yml'}:2:3: import_playbook: file not found")
    when = error_of(tmp_path, "- import_playbook: a.yml\n  when: x\n")
    assert "import_playbook: unknown keyword 'when'" in str(when)


# -- the dataclasses ---------------------------------------------------------------------


def test_model_is_frozen_and_hashable_by_identity(tmp_path: Path) -> None:
    task = task_with(tmp_path, "command: ls")
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.name = "other"  # type: ignore[misc]
    twin = dataclasses.replace(task)
    assert twin != task
    assert {task: 1, twin: 2}[task] == 1


def test_model_can_be_built_directly() -> None:
    task = Task(name="hi", module="debug", args={"msg": "hi"})
    handler = Handler(name="restart", module="command", args={"cmd": "true"}, listen=("x",))
    play = Play(name="p", hosts="all", tasks=(Block(block=(task,)),), handlers=(handler,))
    assert [t.name for t in iter_tasks(play)] == ["hi", "restart"]
    assert play.path == Path()


@pytest.mark.parametrize("case", CASES)
def test_broken_corpus_with_the_built_in_modules(case: str) -> None:
    """The same corpus against the real built-ins, as `deployplay run` will load it."""
    registry = ModuleRegistry.discover(None, module_path="", entry_points=False)
    expected = (CORPUS / f"{case}.expected").read_text().strip()
    with pytest.raises(UserError) as caught:
        load_playbook(CORPUS / f"{case}.yml", registry)
    assert expected in str(caught.value)
