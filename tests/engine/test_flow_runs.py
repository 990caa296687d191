"""Run timeouts (`with_options(timeout=)`), attributes (`set_attributes`, `runs list --attr`)
and fork (`Client.fork`), on every World."""

from __future__ import annotations

import pytest

from runtime import WorkflowFailedError, fork, set_attributes, start, start_child
from runtime.attributes import check_attributes, parse_filter
from runtime.client import Client
from runtime.errors import NotInWorkflowError
from tests.engine import flow_workflows as fw

MODULES = ["tests.engine.flow_workflows"]

both_worlds = pytest.mark.parametrize(
    "emulator_setup",
    [("memory", "inprocess"), ("aws", "inprocess")],
    ids=["memory-inprocess", "aws-inprocess"],
    indirect=True,
)
"""The memory World and the AWS World on moto, through the host in-process: the scenarios
whose invocation path does not matter (the HTTP path and the moto server are covered by the
parent-of-three scenario and the rest of the engine suite) stay inside the time budget."""


@pytest.fixture(autouse=True)
def fresh_state() -> None:
    fw.calls.clear()
    fw.fixed["bug"] = True


@both_worlds
async def test_a_run_over_its_timeout_ends_timed_out(make_emulator) -> None:
    async with make_emulator(modules=MODULES, virtual_time=True) as emu:
        late = await start(fw.sleeps.with_options(timeout="1h"), "2h")
        with pytest.raises(WorkflowFailedError) as failure:
            await late.result(timeout=30)
        assert failure.value.code == "TIMED_OUT"
        assert failure.value.message == "the run did not end within its timeout of 3600 s"
        record = await late.record()
        assert (record.status, record.error_code) == ("failed", "TIMED_OUT")
        assert record.updated_at - record.created_at == pytest.approx(3600, abs=1)

        in_time = await start(fw.sleeps.with_options(timeout="1h"), "10m")
        assert await in_time.result(timeout=30) == "woke"
        assert emu.world.clock.time() - (await in_time.record()).created_at >= 600
        assert await in_time.status() == "completed"


@both_worlds
async def test_a_child_over_its_timeout_fails_its_await_with_timed_out(make_emulator) -> None:
    async with make_emulator(modules=MODULES, virtual_time=True):
        parent = await start(fw.parent_of_slow_child)
        outcome = await parent.result(timeout=30)
        assert outcome == "TIMED_OUT: the run did not end within its timeout of 3600 s"


async def test_a_timeout_is_checked_where_it_is_given() -> None:
    with pytest.raises(ValueError, match=r"with_options\(timeout=\.\.\.\)"):
        fw.sleeps.with_options(timeout="soon")
    with pytest.raises(ValueError, match="must be over 0 s"):
        fw.sleeps.with_options(timeout=0)


@both_worlds
async def test_attributes_filter_runs_list(make_emulator) -> None:
    async with make_emulator(modules=MODULES, cache_size=0) as emu:  # every turn a cold replay
        client = Client(emu.world)
        first = await start(fw.labelled, "c-7", "paid")
        second = await start(fw.labelled, "c-8", "paid")
        third = await start(fw.labelled, "c-7", "refunded")
        for run in (first, second, third):
            await run.result(timeout=30)
        assert await first.attributes() == {"customer": "c-7", "stage": "paid"}

        async def listed(**attributes: str) -> list[str]:
            page = await client.list(attributes=attributes)
            return [r.run_id for r in page.items]

        assert await listed(customer="c-7") == [third.run_id, first.run_id]  # newest first
        assert await listed(stage="paid") == [second.run_id, first.run_id]
        assert await listed(customer="c-7", stage="paid") == [first.run_id]
        assert await listed(customer="c-9") == []
        page = await client.list(attributes={"customer": "c-7"}, limit=1)
        assert [r.run_id for r in page.items] == [third.run_id]
        rest = await client.list(attributes={"customer": "c-7"}, cursor=page.next_cursor)
        assert [r.run_id for r in rest.items] == [first.run_id]
        assert rest.next_cursor is None
        failed = await client.list(attributes={"customer": "c-7"}, status="failed")
        assert failed.items == []


async def test_outside_a_workflow_start_child_and_set_attributes_say_where_they_work() -> None:
    with pytest.raises(NotInWorkflowError, match="start_child\\(\\) works only inside a workflow"):
        await start_child(fw.child, 1)
    with pytest.raises(NotInWorkflowError, match="set_attributes\\(\\) works only inside"):
        set_attributes(customer="c-7")


def test_attributes_are_checked_with_a_clear_error() -> None:
    assert check_attributes({"n": 3, "stage": "paid"}) == {"n": "3", "stage": "paid"}
    with pytest.raises(ValueError, match="attribute 'note': the value has 300 characters"):
        check_attributes({"note": "x" * 300})
    with pytest.raises(ValueError, match="attribute 'ok': a value must be a string or an integer"):
        check_attributes({"ok": True})
    with pytest.raises(ValueError, match="attribute name 'a b' is not allowed"):
        check_attributes({"a b": "x"})
    with pytest.raises(ValueError, match="an attribute filter is name=value"):
        parse_filter("customer")
    assert parse_filter("customer=c=7") == ("customer", "c=7")


@both_worlds
async def test_a_fork_of_a_failed_run_reuses_the_earlier_steps(make_emulator) -> None:
    async with make_emulator(modules=MODULES) as emu:
        run = await start(fw.checkout, "o-1")
        with pytest.raises(WorkflowFailedError, match="card declined by a bug"):
            await run.result(timeout=30)
        assert fw.calls["reserve"] == ["o-1", "o-1-gift"]
        fw.fixed["bug"] = False  # the fix is deployed
        with pytest.raises(ValueError, match="has no step 9 \\(its steps: 1, 2, 3\\)"):
            await fork(run.run_id, 9)
        forked = await Client(emu.world).fork(run.run_id, 3)
        assert await forked.result(timeout=30) == [
            "reserved o-1",
            "reserved o-1-gift",
            "charged o-1",
        ]
        assert fw.calls["reserve"] == ["o-1", "o-1-gift"]  # not run again
        assert fw.calls["charge"] == ["o-1", "o-1"]
        created = (await forked.events())[0]
        assert created["forked_from"] == run.run_id
        assert await run.status() == "failed"  # the original is left as it was
