"""Play-level pieces: tags selection, handler bookkeeping, the linear strategy with a fake fleet."""

from __future__ import annotations

import pytest
from executor_helpers import make_context, task

from deployplay.runner.handlers import HandlerBook, failure_handlers
from deployplay.runner.model import Block, Handler, Play, Playbook
from deployplay.runner.play import run_playbook
from deployplay.runner.tags import should_run


@pytest.mark.parametrize(
    ("tags", "only", "skip", "runs"),
    [
        ((), (), (), True),
        (("a",), ("a",), (), True),
        (("b",), ("a",), (), False),
        ((), ("a",), (), False),
        (("always",), ("a",), (), True),
        (("always",), (), ("always",), False),
        (("always",), (), ("all",), True),
        (("always",), (), ("all", "always"), False),
        (("never",), (), (), False),
        (("never", "debug"), ("debug",), (), True),
        (("never",), ("all",), (), False),
        (("a",), (), ("a",), False),
        (("a",), ("tagged",), (), True),
        ((), ("untagged",), (), True),
        (("a",), ("untagged",), (), False),
    ],
)
def test_tag_selection_follows_ansible(tags, only, skip, runs) -> None:
    assert should_run(tags, only, skip) is runs


def handler(name: str, *listen: str) -> Handler:
    return Handler(name=name, module="run", args={"cmd": name}, listen=listen)


def test_handlers_flush_in_definition_order_once_each() -> None:
    play = Play(name="p", hosts="all", handlers=(handler("a"), handler("b", "topic"), handler("c")))
    book = HandlerBook(play)
    book.notify("h1", ["c", "topic"])
    book.notify("h2", ["b", "c"])
    book.notify("h1", ["c"])
    ran: list[tuple[str, list[str]]] = []
    book.flush(lambda h, hosts: ran.append((h.name, hosts)), lambda host: True)
    assert ran == [("b", ["h1", "h2"]), ("c", ["h1", "h2"])]
    assert not book.pending()


def test_flush_leaves_out_ineligible_hosts() -> None:
    play = Play(name="p", hosts="all", handlers=(handler("a"),))
    book = HandlerBook(play)
    book.notify("h1", ["a"])
    book.notify("h2", ["a"])
    ran: list[list[str]] = []
    book.flush(lambda h, hosts: ran.append(hosts), lambda host: host != "h1")
    assert ran == [["h2"]]


def test_failure_handlers_in_definition_order() -> None:
    play = Play(name="p", hosts="all", handlers=(handler("x"), handler("y", "undo"), handler("z")))
    assert [h.name for h in failure_handlers(play, ["z", "undo", "z"])] == ["y", "z"]


def run(play: Play, hosts: list[str]):
    ctx, fakes, reporter = make_context(hosts)
    code = run_playbook(ctx, Playbook(path=None, plays=(play,)))
    return code, fakes, reporter


def test_linear_strategy_runs_each_task_on_all_hosts_before_the_next() -> None:
    play = Play(
        name="p",
        hosts="all",
        tasks=(task(name="one", args={"cmd": "one"}), task(name="two", args={"cmd": "two"})),
    )
    code, fakes, reporter = run(play, ["a", "b", "c"])
    assert code == 0
    names = [name for _host, name, _status in reporter.results]
    assert names == ["one"] * 3 + ["two"] * 3
    assert all(f.commands() == ["one", "two"] for f in fakes.values())


def test_failure_handlers_roll_back_changed_hosts_of_earlier_batches() -> None:
    play = Play(
        name="p",
        hosts="all",
        serial=(1,),
        any_errors_fatal=True,
        on_failure=("undo",),
        tasks=(
            task(name="deploy", args={"cmd": "deploy"}, when=("inventory_hostname != 'c'",)),
            task(name="verify", args={"cmd": "verify"}),
        ),
        handlers=(handler("undo"),),
    )
    ctx, fakes, _reporter = make_context(["a", "b", "c"])
    fakes["b"].on("verify", exit_code=1)
    code = run_playbook(ctx, Playbook(path=None, plays=(play,)))
    assert code == 2
    assert fakes["a"].commands() == ["deploy", "verify", "undo"]
    assert fakes["b"].commands() == ["deploy", "verify", "undo"]
    assert fakes["c"].commands() == []


def test_a_failing_rollback_makes_the_run_fail_loudly() -> None:
    play = Play(
        name="p",
        hosts="all",
        on_failure=("undo",),
        tasks=(Block(block=(task(name="deploy", args={"cmd": "deploy"}),)),),
        handlers=(handler("undo"),),
    )
    ctx, fakes, reporter = make_context(["a"])
    fakes["a"].on("deploy", exit_code=1)
    fakes["a"].on("undo", exit_code=1)
    assert run_playbook(ctx, Playbook(path=None, plays=(play,))) == 2
    assert ("a", "undo", "failed") in reporter.results


def test_a_long_task_reports_that_it_is_still_running(monkeypatch: pytest.MonkeyPatch) -> None:
    import deployplay.runner.play as play_module

    monkeypatch.setattr(play_module, "STILL_RUNNING_EVERY_S", 0.05)
    play = Play(name="p", hosts="all", tasks=(task("slow", {"value": 0.3}, name="wait"),))
    code, _fakes, reporter = run(play, ["a"])
    assert code == 0
    assert reporter.progress
    assert reporter.progress[0][0] == "a"
    assert reporter.progress[0][1].startswith("still running")


def test_hosts_that_end_are_not_failed_and_the_next_batch_runs() -> None:
    from deployplay.runner.model import Task

    end = Task(name="end", module="meta", args={"action": "end_host"})
    play = Play(
        name="p",
        hosts="all",
        serial=(1,),
        tasks=(task(name="one", args={"cmd": "one"}), end, task(name="two", args={"cmd": "two"})),
    )
    code, fakes, _reporter = run(play, ["a", "b"])
    assert code == 0
    assert fakes["a"].commands() == ["one"]
    assert fakes["b"].commands() == ["one"]


def test_run_state_cleanups_run_at_the_end_latest_first() -> None:
    from deployplay.modules.base import Module, ModuleResult
    from deployplay.modules.registry import ModuleRegistry

    released: list[str] = []

    class Lock(Module):
        name = "lock"

        def run(self, ctx, args):
            ctx.run_state.at_end(ctx.host, "release lock", lambda: released.append(ctx.host))
            return ModuleResult(changed=True)

    play = Play(name="p", hosts="all", tasks=(task("lock", {}, name="lock"),))
    ctx, _fakes, _reporter = make_context(["a", "b"])
    ctx.registry = ModuleRegistry.from_classes([Lock])
    assert run_playbook(ctx, Playbook(path=None, plays=(play,))) == 0
    assert sorted(released) == ["a", "b"]


def test_max_fail_percentage_counts_unreachable_hosts() -> None:
    from deployplay.errors import UnreachableError

    play = Play(
        name="p",
        hosts="all",
        max_fail_percentage=0,
        tasks=(task(name="one", args={"cmd": "one"}), task(name="two", args={"cmd": "two"})),
    )
    ctx, fakes, _reporter = make_context(["a", "b"])
    fakes["a"].on("one", raises=UnreachableError("a dropped off"))
    assert run_playbook(ctx, Playbook(path=None, plays=(play,))) == 4
    assert fakes["b"].commands() == ["one"]
