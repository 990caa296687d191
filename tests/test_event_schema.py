"""The one declared event schema (runtime/engine/events.py): every type has one, every event the
engine records matches it, a new event that breaks it is refused where it is made, and a
recorded one the replay cannot understand fails the run as corrupted."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from local_emulator import Emulator
from runtime import WorkflowFailedError, resume_hook, start
from runtime.engine.events import (
    SCHEMA,
    Event,
    EventType,
    check_new,
    check_recorded,
    schema_problems,
)
from runtime.engine.upgrade import upgrade_run
from runtime.errors import CorruptedDataError
from tests.engine import flow_workflows as fw
from tests.engine import lock_workflows as lw
from tests.engine import workflows as wf

MODULES = ["tests.engine.workflows", "tests.engine.flow_workflows", "tests.engine.lock_workflows"]


def test_every_event_type_is_declared() -> None:
    assert set(SCHEMA) == set(EventType)


def _event(type_: str, attrs: dict[str, Any], **fields: Any) -> Event:
    return Event(type_, "evt_1", 1_700_000_000.0, fields.pop("cid", "step_1"), attrs, **fields)


def test_a_new_event_that_breaks_its_schema_is_refused() -> None:
    good = {"attempt": 1, "step_name": "m:s", "retry_at": 1.0}
    check_new(_event(EventType.STEP_RETRYING, good, payload=b"sealed"))
    with pytest.raises(ValueError, match="no 'retry_at' attribute"):
        check_new(_event(EventType.STEP_RETRYING, {"attempt": 1, "step_name": "m:s"}, payload=b"x"))
    with pytest.raises(ValueError, match="undeclared attribute 'retry_after'"):
        check_new(_event(EventType.STEP_RETRYING, {**good, "retry_after": 1.0}, payload=b"x"))
    with pytest.raises(ValueError, match="attribute 'attempt' is str"):
        check_new(_event(EventType.STEP_STARTED, {"attempt": "1"}))
    with pytest.raises(ValueError, match="no payload"):
        check_new(_event(EventType.STEP_RETRYING, good))
    with pytest.raises(ValueError, match="a payload, but the type has none"):
        check_new(_event(EventType.WAIT_COMPLETED, {}, payload=b"x"))
    with pytest.raises(ValueError, match="no correlation_id"):
        check_new(_event(EventType.WAIT_COMPLETED, {}, cid=None))


def test_a_recorded_event_may_carry_more_but_not_less() -> None:
    check_recorded(_event(EventType.WAIT_CREATED, {"resume_at": 5, "zone": "eu"}), "run_x")
    with pytest.raises(CorruptedDataError, match="no 'resume_at' attribute"):
        check_recorded(_event(EventType.WAIT_CREATED, {}), "run_x")
    with pytest.raises(CorruptedDataError, match="unknown type 'lock_granted'"):
        check_recorded(_event("lock_granted", {}), "run_x")


async def _until(run: Any, event_type: str) -> None:
    deadline = time.monotonic() + 10
    while not any(e["type"] == event_type for e in await run.events()):
        assert time.monotonic() < deadline, f"{run.run_id} never recorded {event_type}"
        await asyncio.sleep(0.01)


async def test_every_event_the_engine_records_matches_the_schema() -> None:
    async with Emulator(modules=MODULES, world="memory", virtual_time=True) as emu:
        failed = await start(wf.raises_in_workflow, "boom")  # run_failed
        with pytest.raises(WorkflowFailedError):
            await failed.result(timeout=10)
        big = await start(wf.round_trip, "x" * 200_000)  # payloads offloaded to the blob store
        runs = [
            await start(wf.retry_then_fatal),  # step_retrying, step_failed (caught)
            await start(wf.sleep_then_step),  # wait_created, wait_completed
            await start(fw.parent_of_three, [1, -1]),  # child_created, child_ended
            await start(fw.labelled, "c-1", "paid"),  # attributes_set
            await start(lw.contend, "schema"),  # lock_requested, lock_acquired, lock_released
            big,
        ]
        for run in runs:
            await run.result(timeout=10)
        hooked = await start(wf.three_payloads, "schema-token")
        await _until(hooked, "hook_created")
        conflicting = await start(wf.hold_hook, "schema-token")  # hook_conflict
        await _until(conflicting, "hook_conflict")
        for payload in ("a", "b", "c"):
            await resume_hook("schema-token", payload, idempotency_key=payload)
        await hooked.result(timeout=10)
        cancelled = await start(wf.hold_hook, "schema-cancel")
        await _until(cancelled, "hook_created")
        await upgrade_run(emu.world, cancelled.run_id, "schema-v2")  # run_upgraded
        await cancelled.cancel()
        seen: set[str] = set()
        for run in [*runs, failed, hooked, conflicting, cancelled]:
            for event in await emu.world.log.read(run.run_id):
                seen.add(event.type)
                assert schema_problems(event, recorded=False) == [], (run.run_id, event)
        assert seen == set(EventType)
        offloaded = await emu.world.log.read(big.run_id)
        assert any("blob" in e.attrs and "blob" not in e.public_attrs for e in offloaded)
