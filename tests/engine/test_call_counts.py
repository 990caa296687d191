"""What steps cost in AWS calls (deterministic enough to assert; times are bench/'s), and how
cancelling a run of inline steps behaves now that an inline step reads nothing before it
starts (runtime/engine/workflow_invocation.py, `_inline_step`): the step's conditional append
is what notices a cancel."""

from __future__ import annotations

import asyncio
import collections

import pytest

from adapters.aws import AwsWorld
from local_emulator import Emulator
from runtime import WorkflowFailedError, start
from tests.engine import workflows as wf

RECEIVE = "sqs.ReceiveMessage"


async def test_cancel_stops_a_long_sequential_run_within_one_step(make_emulator) -> None:
    async with make_emulator():
        run = await start(wf.many_counted_steps, 100_000)
        while len(wf.calls["counted"]) < 20:
            await asyncio.sleep(0.005)
        await run.cancel()
        started_before = len(wf.calls["counted"])
        with pytest.raises(WorkflowFailedError) as failure:
            await run.result(timeout=10)
        assert failure.value.code == "CANCELLED"
        assert len(wf.calls["counted"]) <= started_before + 1
        events = await run.events()
        assert events[-1]["type"] == "run_cancelled"
        completed = [e for e in events if e["type"] == "step_completed"]
        assert len(completed) >= 20


async def test_cancel_stops_a_wide_fan_out_within_one_step_per_worker(make_emulator) -> None:
    """Queued steps start from this process's view of the log, not a read: a cancel recorded
    meanwhile is noticed by the next append, so after it at most one step per worker starts,
    and no outcome is recorded after the run's end."""
    concurrency = 4
    async with make_emulator(concurrency=concurrency):
        run = await start(wf.fan_out_counted, 100)
        for _ in range(3000):
            if len(wf.calls["counted"]) >= 10:
                break
            await asyncio.sleep(0.005)
        await run.cancel()
        started_before = len(wf.calls["counted"])
        with pytest.raises(WorkflowFailedError) as failure:
            await run.result(timeout=30)
        assert failure.value.code == "CANCELLED"
        await asyncio.sleep(0.3)  # steps already running finish; none may start or record
        assert len(wf.calls["counted"]) <= started_before + concurrency
        events = await run.events()
        assert events[-1]["type"] == "run_cancelled"
        assert len(wf.calls["counted"]) < 100


async def test_an_inline_step_costs_one_durable_write_and_no_read() -> None:
    """On the AWS World: 300 inline steps cost 300 conditional puts and a few calls per run
    (start, the run's ending, the caller's result), not a read per step."""
    steps = 300
    async with Emulator(world="aws", modules=["tests.engine.workflows"]) as emu:
        emu.world.reset_calls()  # type: ignore[attr-defined]
        run = await start(wf.many_counted_steps, steps)
        assert await run.result(timeout=60) == steps
        calls = dict(emu.world.calls)  # type: ignore[attr-defined]
    calls.pop(RECEIVE, None)  # the event source's polls, paced by time
    writes = sum(n for kind, n in calls.items() if kind.split(".")[1] in {"PutItem", "UpdateItem"})
    assert writes / steps <= 1.04, calls
    assert sum(calls.values()) / steps <= 1.1, calls


async def test_racing_fan_out_results_cost_a_constant_number_of_calls_each() -> None:
    """100 step results racing for the head (8 at a time): the losers take what beat them
    from the conflict instead of reading again, so calls per step stay a small constant."""
    steps = 100
    async with Emulator(world="aws", concurrency=8, modules=["tests.engine.workflows"]) as emu:
        emu.world.reset_calls()  # type: ignore[attr-defined]
        run = await start(wf.parallel_adds, steps)
        assert await run.result(timeout=120) == sum(range(steps))
        calls = dict(emu.world.calls)  # type: ignore[attr-defined]
    receives = calls.pop(RECEIVE, 0)
    assert sum(calls.values()) / steps < 6, calls
    assert calls["dynamodb.GetItem"] / steps < 2.5, calls
    assert receives / steps < 1.5, calls


async def _fan_out_costs(steps: int) -> tuple[dict[str, int], int, int]:
    """A fan-out of `steps` on the AWS World, 8 at a time: AWS calls by kind (receives apart),
    failed conditional writes, and workflow invocations."""
    conflicts: collections.Counter[str] = collections.Counter()

    def after_call(event_name: str = "", parsed: object = None, **_: object) -> None:
        error = parsed.get("Error", {}) if isinstance(parsed, dict) else {}
        if error.get("Code") == "ConditionalCheckFailedException":
            conflicts[event_name] += 1

    async with Emulator(world="aws", concurrency=8, modules=["tests.engine.workflows"]) as emu:
        world = emu.world
        assert isinstance(world, AwsWorld)
        world.aws.dynamodb.meta.events.register("after-call", after_call)
        world.reset_calls()
        run = await start(wf.parallel_adds, steps)
        assert await run.result(timeout=120) == sum(range(steps))
        calls = dict(world.calls)
        invocations = emu.workflow_invocations(run.run_id)
    calls.pop(RECEIVE, None)
    return calls, sum(conflicts.values()), invocations


@pytest.mark.parametrize("steps", [50, pytest.param(200, marks=pytest.mark.slow)])
async def test_a_fan_out_costs_calls_linear_in_its_width(steps: int) -> None:
    """A fan-out of N makes fewer than 5 AWS calls per step (its message, its delete, one
    append, a few reads and retries) and O(N) lost conditional writes on the log's head, not
    O(N²): step invocations start from this process's view of the log instead of reading
    it, and the workflow invocation that queued them waits for all of them, so no step sends
    a continuation and the run is not replayed once per outcome."""
    calls, conflicts, invocations = await _fan_out_costs(steps)
    assert sum(calls.values()) / steps < 5, calls
    assert calls.get("dynamodb.GetItem", 0) / steps < 0.5, calls
    assert calls.get("sqs.SendMessage", 0) / steps < 1.2, calls  # steps' messages, ~no wakes
    assert conflicts < 2 * steps, (conflicts, calls)
    assert invocations <= 6, invocations


async def test_a_run_with_no_step_ends_in_a_few_calls_and_no_read(monkeypatch) -> None:
    """start (data key, record and `run_created` in one batch write, message), the
    invocation (its view of the log is the one `start` just wrote: no read; one write ends
    the run and one says so on the record), the caller's result (told: no read), the
    message's delete."""
    from runtime import runs

    monkeypatch.setattr(runs, "_POLL_START", 60.0)  # a slow machine: still told, not polled
    async with Emulator(world="aws", modules=["tests.engine.workflows"]) as emu:
        await (await start(wf.no_steps)).result(timeout=60)  # warm-up
        emu.world.reset_calls()  # type: ignore[attr-defined]
        assert await (await start(wf.no_steps)).result(timeout=60) == "done"
        calls = dict(emu.world.calls)  # type: ignore[attr-defined]
        batched = emu.world.batched_writes  # type: ignore[attr-defined]
    calls.pop(RECEIVE, None)
    assert calls == {
        "kms.GenerateDataKey": 1,
        "dynamodb.BatchWriteItem": 1,  # the record and run_created
        "sqs.SendMessage": 1,
        "dynamodb.PutItem": 1,  # the ending (no seal item)
        "dynamodb.UpdateItem": 1,  # the record's status
        "sqs.DeleteMessage": 1,
    }, calls
    assert batched == 2


async def test_a_message_about_what_this_process_did_not_see_is_not_lost(monkeypatch) -> None:
    """The host's view of the log is fresh but lacks a hook payload another process recorded:
    an invocation with nothing to write on such a view reads before it concludes so."""
    from adapters.aws import AwsWorld
    from runtime import Client
    from runtime.engine import workflow_invocation

    monkeypatch.setattr(workflow_invocation, "FRESH_SECONDS", 600.0)  # every view is fresh
    async with Emulator(world="aws", modules=["tests.engine.workflows"]) as emu:
        run = await start(wf.hold_hook, "elsewhere-token")
        for _ in range(500):
            if await emu.world.hooks.lookup("elsewhere-token") is not None:
                break
            await asyncio.sleep(0.01)
        world = emu.world
        assert isinstance(world, AwsWorld)
        other = AwsWorld(world.config, world.clock)  # another process: its own caches
        try:
            await Client(other).resume_hook("elsewhere-token", "paid")
        finally:
            await other.close()
        assert await run.result(timeout=30) == "paid"
