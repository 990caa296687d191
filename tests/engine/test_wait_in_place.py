"""Waiting in place (runtime/engine/wait_in_place.py): with no warm instance anywhere
(`cache_size=0`), a run of queued steps after a long history is replayed once, not once a
step; a waiter that dies leaves the run to its own message; a late continuation is settled
from the log when the workflow already consumed its outcome, and replays when it did not."""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any

import pytest

from adapters.memory import MemoryWorld
from runtime import start, step, workflow
from runtime.engine import workflow_invocation
from runtime.engine.events import EventType
from runtime.engine.host import FunctionHost
from runtime.engine.messages import StepMessage, WorkflowMessage, parse_message
from runtime.engine.wait_in_place import WINDOW_MARGIN, continuation
from runtime.errors import InvalidMessageError
from tests.conftest import installed

starts: collections.Counter[str] = collections.Counter()
ran: collections.Counter[str] = collections.Counter()


@pytest.fixture(autouse=True)
def clean_counters() -> None:
    starts.clear()
    ran.clear()


@step
async def quick(i: int) -> int:
    ran["quick"] += 1
    return i


@step(timeout=3600)  # over the host's inline budget: always queued
async def queued(i: int) -> int:
    ran[f"queued_{i}"] += 1
    return i


@workflow
async def history_then_queued(history: int, more: int) -> int:
    starts["history_then_queued"] += 1  # workflow code runs again on every replay
    total = 0
    for i in range(history):
        total += await quick(i)
    for i in range(more):
        total += await queued(i)
    return total


@pytest.mark.parametrize(
    "emulator_setup", [("memory", "inprocess"), ("memory", "http"), ("aws", "inprocess")]
)
async def test_queued_steps_replay_once_with_no_warm_instance(make_emulator, monkeypatch) -> None:
    monkeypatch.setenv("STEPLANE_WAIT_IN_PLACE_SECONDS", "30")  # a loaded machine stays inside
    async with make_emulator(cache_size=0) as emu:
        run = await start(history_then_queued, 10, 4)
        assert await run.result(timeout=60) == sum(range(10)) + sum(range(4))
        # One workflow invocation drove the queued steps from its warm instance: the steps
        # sent no continuation (the waiter read their outcomes), nothing was replayed.
        assert starts["history_then_queued"] == 1
        assert emu.workflow_invocations(run.run_id) == 1
        assert all(ran[f"queued_{i}"] == 1 for i in range(4))


@pytest.mark.parametrize("emulator_setup", [("memory", "inprocess")])
async def test_with_waiting_off_every_queued_step_replays(make_emulator, monkeypatch) -> None:
    """The contrast that shows what waiting saves (and that `0` turns it off)."""
    monkeypatch.setenv("STEPLANE_WAIT_IN_PLACE_SECONDS", "0")
    async with make_emulator(cache_size=0) as emu:
        run = await start(history_then_queued, 3, 4)
        assert await run.result(timeout=60) == 3 + 6
        assert starts["history_then_queued"] == 5  # the first invocation and one per step
        assert emu.workflow_invocations(run.run_id) == 5


@pytest.mark.parametrize("emulator_setup", [("memory", "inprocess"), ("aws", "inprocess")])
async def test_a_waiter_that_dies_leaves_the_run_to_its_own_message(
    make_emulator, monkeypatch
) -> None:
    """The step's outcome is recorded while the waiter waits, so the step sends no
    continuation; the waiter then fails as a crashed host would. Its own message comes back
    (receive 2), replays, and the run completes with every step recorded once."""
    wait = workflow_invocation.WorkflowInvocation._wait_in_place
    died: list[str] = []

    async def die_once(self: Any) -> bool:
        if died:
            return await wait(self)
        deadline = time.monotonic() + 30
        while not any(  # until the first queued step's outcome is in the log
            e.type == EventType.STEP_COMPLETED and "queued" in str(e.attrs)
            for e in await self.world.log.read(self.run_id)
        ):
            assert time.monotonic() < deadline, "the queued step never finished"
            await asyncio.sleep(0.01)
        died.append(self.run_id)
        raise RuntimeError("the host running the waiter died")

    monkeypatch.setattr(workflow_invocation.WorkflowInvocation, "_wait_in_place", die_once)
    async with make_emulator(cache_size=0) as emu:
        run = await start(history_then_queued, 2, 3)
        assert await run.result(timeout=60) == 1 + 3
        assert died == [run.run_id]
        assert emu.workflow_invocations(run.run_id) == 2  # the waiter's message, twice
        events = [e["type"] for e in await run.events()]
        assert events.count("step_completed") == 2 + 3
        assert all(ran[f"queued_{i}"] == 1 for i in range(3))


def test_a_step_sends_a_continuation_only_when_the_waiter_may_have_missed_it() -> None:
    waited = StepMessage("run_a", "step_1_x", "queued", 4, wait_until=100.0)
    assert continuation(waited, "wf", 7, 99.0, 900.0) is None  # inside the window
    late, delay = continuation(waited, "wf", 7, 100.2, 900.0) or (None, 0.0)
    assert late == WorkflowMessage("run_a", "wf", after=7)  # at the window's edge: settled
    assert delay == pytest.approx(2 * WINDOW_MARGIN - 0.2)  # ...once the waiter surely left
    after_window = continuation(waited, "wf", 7, 100 + 3 * WINDOW_MARGIN, 900.0)
    assert after_window == (WorkflowMessage("run_a", "wf"), 0.0)  # nobody waits any more
    unwaited = StepMessage("run_a", "step_1_x", "queued", 4)
    assert continuation(unwaited, "wf", 7, 99.0, 900.0) == (WorkflowMessage("run_a", "wf"), 0.0)


def test_the_new_message_fields_round_trip_and_are_checked() -> None:
    settled = WorkflowMessage("run_a", "wf", after=12)
    assert parse_message(settled.body()) == settled
    assert settled.idempotency_key != WorkflowMessage("run_a", "wf", after=13).idempotency_key
    waited = StepMessage("run_a", "s", "queued", 3, wait_until=5.5)
    assert parse_message(waited.body()) == waited
    assert "after" not in WorkflowMessage("run_a", "wf").body()  # old shape unchanged
    for bad, field in (
        ({**settled.body(), "after": -1}, "after"),
        ({**settled.body(), "after": "3"}, "after"),
        ({**waited.body(), "wait_until": float("inf")}, "wait_until"),
    ):
        with pytest.raises(InvalidMessageError, match=field):
            parse_message(bad)


async def _drain(world: MemoryWorld, host: FunctionHost, *, keep: Any = None) -> list[Any]:
    """Handle queued messages until none is visible; those `keep` picks are set aside."""
    kept = []
    for _ in range(100):
        deliveries = await world.queue.receive(max_messages=10)
        if not deliveries:
            return kept
        for delivery in deliveries:
            if keep is not None and keep(delivery.body):
                kept.append(delivery.body)
            else:
                await host.handle(delivery.body)
            await world.queue.delete(delivery)
    raise AssertionError("the queue never drained")


async def test_a_late_continuation_is_settled_from_the_log_or_replays() -> None:
    world = MemoryWorld()
    async with installed(world):
        # No warm instance, and every step sends a continuation.
        host = FunctionHost(world, cache_size=0, wait_in_place_seconds=0)
        run = await start(history_then_queued, 1, 2)
        # Run until the first queued step's continuation; hold it back.
        held = await _drain(
            world, host, keep=lambda body: body["kind"] == "workflow" and starts.total() > 0
        )
        assert len(held) == 1 and starts["history_then_queued"] == 1
        length = len(await world.log.read(run.run_id))
        late = WorkflowMessage(run.run_id, held[0]["workflow"], after=length)

        # Nothing after its outcome: a workflow invocation must read it (a replay here).
        await host.handle(late.body())
        assert starts["history_then_queued"] == 2
        after_first = len(await world.log.read(run.run_id))
        assert after_first > length  # it issued the next step

        # Now the workflow wrote after that outcome: the same message again is settled from
        # the log, with no replay and nothing written...
        await host.handle(late.body())
        assert starts["history_then_queued"] == 2
        assert len(await world.log.read(run.run_id)) == after_first
        # ...except on a redelivery, which may be repairing a crash after that write.
        await host.handle(late.body(), receive_count=2)
        assert starts["history_then_queued"] == 3

        await _drain(world, host)
        assert await run.result(timeout=5) == 0 + 0 + 1
        # A continuation for an ended run: settled from the log's end and the run record.
        replays = starts["history_then_queued"]
        await host.handle(late.body())
        assert starts["history_then_queued"] == replays
