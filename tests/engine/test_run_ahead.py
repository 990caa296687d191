"""A run that ends right after an inline step records the step and its ending in one write
(engine/workflow_invocation.py, `_run_ahead`): the instance is fed the step's outcome before
the append. When something else is recorded while the step runs, that append loses, and the
instance, fed what the log does not hold, is rebuilt from the log: the run must then end as
the log says, with the step run once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from runtime import WorkflowFailedError, resume_hook, start
from tests.engine import model_workflows as mw
from tests.engine import workflows as wf

MODULES = ["tests.engine.model_workflows", "tests.engine.workflows"]


def recorded_batches(emu: Any) -> list[list[str]]:
    """Every batch the World is asked to write to a log from now on, as its event types: a
    run's first one (`run_created`) given with its record to `create_run`, the others to
    `log.append`."""
    batches: list[list[str]] = []
    world = emu.world
    append, create_run = world.log.append, world.create_run
    created: set[str] = set()

    async def counted(run_id: str, expected: int, events: list[Any]) -> None:
        if not (expected == 0 and run_id in created):  # create_run's own, counted there
            batches.append([str(e.type) for e in events])
        await append(run_id, expected, events)

    async def counted_create(record: Any, events: list[Any]) -> None:
        created.add(record.run_id)
        batches.append([str(e.type) for e in events])
        await create_run(record, events)

    world.log.append, world.create_run = counted, counted_create
    return batches


async def until(condition: Any, timeout: float = 20.0) -> None:  # a liveness bound
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        await asyncio.sleep(0.01)


async def test_the_last_inline_step_and_the_ending_are_one_write(make_emulator) -> None:
    async with make_emulator(modules=MODULES) as emu:
        batches = recorded_batches(emu)
        run = await start(wf.three_steps, 1)
        assert await run.result(timeout=30) == 112
        steps = [b for b in batches if "step_completed" in b]
        assert len(batches) == 4, batches  # run_created, then one write per step
        assert steps[-1][-2:] == ["step_completed", "run_completed"]
        assert all("run_completed" not in b for b in steps[:-1])
        types = [e["type"] for e in await run.events()]
        assert types.count("run_completed") == 1 and types[-1] == "run_completed"
        assert await run.status() == "completed"


async def test_what_the_workflow_records_after_its_last_step_goes_with_the_ending(
    make_emulator,
) -> None:
    async with make_emulator(modules=MODULES) as emu:
        batches = recorded_batches(emu)
        mw.gates["label"].set()
        run = await start(mw.label_after_gated_step, "label")
        assert await run.result(timeout=30) == "through"
        assert batches[-1][-3:] == ["step_completed", "attributes_set", "run_completed"]
        assert await run.attributes() == {"after": "through"}


async def test_a_cancel_during_the_last_inline_step_ends_the_run_cancelled(make_emulator) -> None:
    async with make_emulator(modules=MODULES) as emu:
        batches = recorded_batches(emu)
        run = await start(mw.gated_first_step, "cancel-last")
        await until(lambda: "cancel-last" in mw.gates)  # the step waits at its gate
        await run.cancel()
        mw.gates["cancel-last"].set()
        with pytest.raises(WorkflowFailedError) as failure:
            await run.result(timeout=30)
        assert failure.value.code == "CANCELLED"
        types = [e["type"] for e in await run.events()]
        assert "run_completed" not in types and types[-1] == "run_cancelled"
        assert "step_completed" not in types  # the step's write lost to the cancel
        assert any(b[-2:] == ["step_completed", "run_completed"] for b in batches)  # tried
        assert await run.status() == "cancelled"


async def test_a_payload_during_the_last_inline_step_costs_a_rebuild_not_the_result(
    make_emulator,
) -> None:
    async with make_emulator(modules=MODULES) as emu:
        batches = recorded_batches(emu)
        run = await start(mw.open_hook_then_gated_step, "payload-last", "payload-last")
        await until(lambda: "payload-last" in mw.gates)
        await resume_hook("payload-last", {"n": 1})  # recorded while the step runs
        mw.gates["payload-last"].set()
        assert await run.result(timeout=30) == "through"
        assert mw.calls["gate:payload-last"] == [1]  # the step ran once
        types = [e["type"] for e in await run.events()]
        assert types.index("hook_received") < types.index("step_completed")
        assert types.count("step_completed") == 1
        assert types[-2:] == ["hook_disposed", "run_completed"]
        endings = [b[-3:] for b in batches if "run_completed" in b]
        ending = ["step_completed", "hook_disposed", "run_completed"]
        assert endings == [ending, ending]  # lost to the payload once, then recorded after it
        assert await run.status() == "completed"
        assert emu.errors == []
