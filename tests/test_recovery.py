"""Recovery: a run whose work was lost (a deleted queue message, a dead letter re-driven with
its receive count back at 1) is found and re-woken; healthy runs are left alone. Driven
through `adapters.lambda_handler.handler` (SQS batches and the EventBridge schedule)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.memory import MemoryWorld
from runtime import set_world, sleep, start, workflow
from runtime.world import World
from tests.conftest import ManualClock, installed
from tests.engine import workflows as wf
from tests.test_lambda_handler import call, sqs_record

SCHEDULED = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2026-12-01T23:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/steplane-reconcile"],
    "detail": {},
}


@workflow
async def naps() -> str:
    await sleep("1h")
    return "rested"


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with installed(MemoryWorld(clock=ManualClock())) as built:
        yield built


async def _deliver_all(world: World, rounds: int = 20) -> None:
    """Play the event source mapping until the queue has nothing visible."""
    for _ in range(rounds):
        deliveries = await world.queue.receive(max_messages=10)
        if not deliveries:
            return
        records = [sqs_record(json.dumps(d.body), d.receive_count) for d in deliveries]
        result = await call({"Records": records})
        assert result == {"batchItemFailures": []}
        for delivery in deliveries:
            await world.queue.delete(delivery)


async def test_reconciler_rewakes_a_run_whose_message_was_lost(world, monkeypatch) -> None:
    monkeypatch.setenv("STEPLANE_STALL_SECONDS", "300")
    lost = await start(wf.three_steps, 1)
    [message] = await world.queue.receive()
    await world.queue.delete(message)  # the message is gone: nothing would ever run it
    hooked = await start(wf.hold_hook, "healthy-hook")
    sleeping = await start(naps)
    await _deliver_all(world)
    assert await hooked.status() == "running" and await sleeping.status() == "running"
    assert await lost.status() == "pending"

    early = await call(SCHEDULED)  # nothing has been quiet for 300 s yet
    assert early == {"reconciled": {"checked": 0, "rewoken": 0, "errors": 0}}

    world.clock.advance(301)
    assert await call(SCHEDULED) == {"reconciled": {"checked": 3, "rewoken": 1, "errors": 0}}
    await _deliver_all(world)
    assert await lost.result(timeout=2) == 112
    assert await hooked.status() == "running"  # waiting for its payload: left alone
    assert [e["type"] for e in await sleeping.events()][-1] == "wait_created"

    world.clock.advance(3600)  # the sleep is now overdue and its wake-up was never delivered
    await world.queue.receive(max_messages=10)  # (lose whatever is queued)
    summary = await call(SCHEDULED)
    assert summary["reconciled"]["rewoken"] == 1
    await _deliver_all(world)
    assert await sleeping.result(timeout=2) == "rested"


async def test_a_redriven_message_recovers_a_run_that_lost_its_step_messages(world) -> None:
    """The workflow invocation recorded fan-out steps and died before sending them; its own
    message then went to the dead-letter queue and was re-driven: receive count 1 again."""
    run = await start(wf.gather_then_sequence)
    [message] = await world.queue.receive()
    body = json.dumps(message.body)
    await call({"Records": [sqs_record(body)]})
    await world.queue.delete(message)
    while await world.queue.receive(max_messages=10):  # lose every step message
        pass
    from adapters import lambda_handler

    lambda_handler.get_host().forget_instances()  # a cold instance, later
    world.clock.advance(600)
    world.queue._messages.clear()  # type: ignore[attr-defined]
    await call({"Records": [sqs_record(body, receive_count=1)]})  # the re-driven copy
    await _deliver_all(world, rounds=50)
    assert len(set(await run.result(timeout=2))) == 20


async def test_rewake_is_harmless_on_a_healthy_or_ended_run(world) -> None:
    from adapters import lambda_handler

    run = await start(wf.addition, 1, 2)
    await _deliver_all(world)
    assert await run.result(timeout=2) == 3
    host: Any = lambda_handler.get_host()
    assert await host.rewake(run.run_id) == 0
    waiting = await start(wf.hold_hook, "rewake-hook")
    await _deliver_all(world)
    assert await host.rewake(waiting.run_id) == 0
    assert await world.queue.receive() == []


async def test_the_emulator_runs_the_reconciler() -> None:
    from local_emulator import Emulator

    built = MemoryWorld()
    previous = set_world(built)
    try:
        run = await start(wf.three_steps, 2)
        [message] = await built.queue.receive()
        await built.queue.delete(message)  # lost before any host saw it
        async with Emulator(world=built, reconcile_every=0.1, stall_seconds=0.2):
            assert await run.result(timeout=10) == 113
    finally:
        set_world(previous)
        await built.close()
