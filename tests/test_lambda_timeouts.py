"""The Lambda handler and the function timeout: the inline budget comes from the invocation's
context, and a message whose step outlives the queue's visibility timeout is kept invisible
(ChangeMessageVisibility heartbeat) so no second consumer runs it meanwhile.

A 400 s step against a 5400 s visibility timeout is scaled down here: a 2 s visibility timeout
(STEPLANE_VISIBILITY_SECONDS, as the template sets it) and a step of 4.5 s, on real SQS
semantics (moto), with a second consumer polling the queue the whole time.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters import lambda_handler
from adapters.memory import MemoryWorld
from runtime import start
from runtime.world import Delivery, RealClock, World
from tests.conftest import aws_inprocess_world, installed
from tests.engine import timeout_workflows as tw
from tests.test_lambda_handler import sqs_record


class FakeContext:
    """What the handler reads from Lambda's context object."""

    def __init__(self, remaining_seconds: float) -> None:
        self.deadline = time.monotonic() + remaining_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def event_of(deliveries: list[Delivery]) -> dict[str, Any]:
    records = []
    for d in deliveries:
        record = sqs_record(json.dumps(d.body), d.receive_count, d.message_id)
        record["receiptHandle"] = d.receipt  # the real one: the heartbeat renews it
        records.append(record)
    return {"Records": records}


async def invoke(deliveries: list[Delivery], context: Any) -> dict[str, Any]:
    return await asyncio.to_thread(lambda_handler.handler, event_of(deliveries), context)


@pytest.fixture
async def memory_world() -> AsyncIterator[World]:
    async with installed(MemoryWorld()) as world:
        yield world


@pytest.fixture
async def aws_world() -> AsyncIterator[World]:
    async with installed(await aws_inprocess_world(RealClock())) as world:
        yield world


async def test_a_step_longer_than_the_visibility_timeout_is_not_redelivered(
    aws_world, monkeypatch
) -> None:
    monkeypatch.setenv(lambda_handler.VISIBILITY_ENV, "2")
    run = await start(tw.long_step, 4.5)
    deliveries = await aws_world.queue.receive(visibility_timeout=2)
    assert len(deliveries) == 1
    seen_by_second_consumer: list[Delivery] = []

    async def second_consumer() -> None:
        while True:
            seen_by_second_consumer.extend(await aws_world.queue.receive(visibility_timeout=2))
            await asyncio.sleep(0.25)

    poller = asyncio.create_task(second_consumer())
    try:
        result = await invoke(deliveries, FakeContext(900))
    finally:
        poller.cancel()
    assert result == {"batchItemFailures": []}
    assert seen_by_second_consumer == []  # 4.5 s past a 2 s visibility timeout, never redelivered
    assert await run.result(timeout=5) == "slept 4.5"
    starts = [e for e in await run.events() if e["type"] == "step_started"]
    assert len(starts) == 1


async def test_without_the_heartbeat_the_same_message_would_be_redelivered(aws_world) -> None:
    """The control for the test above: SQS (moto) really hands an expired message out again."""
    await start(tw.long_step, 0.1)
    first = await aws_world.queue.receive(visibility_timeout=1)
    await asyncio.sleep(1.6)
    again = await aws_world.queue.receive(visibility_timeout=1)
    assert [d.message_id for d in again] == [d.message_id for d in first]
    assert again[0].receive_count == 2


@pytest.mark.parametrize(
    ("remaining", "inline"),
    [(900, True), (60, True), (14, False), (3, False)],
)
async def test_the_inline_budget_follows_the_remaining_time(
    memory_world, remaining, inline
) -> None:
    """`quick` has timeout=5s: it is started inline only when the remaining time minus the
    safety margin (10 s, or 10% if more) still holds its whole timeout."""
    run = await start(tw.quick_wf, "x")
    first = await memory_world.queue.receive()
    assert await invoke(first, FakeContext(remaining)) == {"batchItemFailures": []}
    await memory_world.queue.delete(first[0])
    if inline:
        assert await run.status() == "completed"
        return
    assert await run.status() == "running"
    queued = await memory_world.queue.receive()
    assert [d.body["kind"] for d in queued] == ["step"]  # queued for a fresh invocation
    assert await invoke(queued, FakeContext(900)) == {"batchItemFailures": []}
    await memory_world.queue.delete(queued[0])
    # The first invocation waited in place for the step until its window ended (this test
    # runs the step only after it returned); a step finished near that window's end sends its
    # continuation delayed past it (runtime/engine/wait_in_place.py), hence the wait.
    follow_up = await memory_world.queue.receive(wait_seconds=5)
    assert await invoke(follow_up, FakeContext(900)) == {"batchItemFailures": []}
    assert await run.result(timeout=5) == "x:quick"


def test_inline_budget_leaves_a_safety_margin() -> None:
    assert lambda_handler.inline_budget(None) is None
    assert lambda_handler.inline_budget(FakeContext(900)) == pytest.approx(810, abs=0.1)
    assert lambda_handler.inline_budget(FakeContext(30)) == pytest.approx(20, abs=0.1)
    assert lambda_handler.inline_budget(FakeContext(4)) == 0.0


def test_a_bad_visibility_setting_is_named(monkeypatch) -> None:
    monkeypatch.setenv(lambda_handler.VISIBILITY_ENV, "soon")
    with pytest.raises(ValueError, match="STEPLANE_VISIBILITY_SECONDS"):
        lambda_handler.visibility_seconds()
