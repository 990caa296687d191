"""What a run of inline sequential steps costs and how cancelling one behaves, now that an
inline step reads nothing before it starts (runtime/engine/workflow_invocation.py,
`_inline_step`): the step's conditional append is what notices a cancel."""

from __future__ import annotations

import asyncio

import pytest

from local_emulator import Emulator
from runtime import WorkflowFailedError, start
from tests.engine import workflows as wf


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


async def test_an_inline_step_costs_one_durable_write_and_no_read() -> None:
    """On the AWS World: 300 inline steps cost 300 conditional puts and a few calls per run
    (start, the run's ending, the caller's result), not a read per step."""
    steps = 300
    async with Emulator(world="aws", modules=["tests.engine.workflows"]) as emu:
        emu.world.reset_calls()  # type: ignore[attr-defined]
        run = await start(wf.many_counted_steps, steps)
        assert await run.result(timeout=60) == steps
        calls = dict(emu.world.calls)  # type: ignore[attr-defined]
    calls.pop("sqs.ReceiveMessage", None)  # the event source's polls, paced by time
    writes = sum(n for kind, n in calls.items() if kind.split(".")[1] in {"PutItem", "UpdateItem"})
    assert writes / steps <= 1.04, calls
    assert sum(calls.values()) / steps <= 1.1, calls
