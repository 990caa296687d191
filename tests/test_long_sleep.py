"""A durable sleep longer than the queue's longest delay (SQS: 900 s) costs one workflow
invocation at its end: the hops in between are timer messages the host passes on without
reading the run (engine/messages.py `TimerMessage`), a duplicated hop does not multiply, and
the sleep ends on time. On the emulator (memory and embedded moto Worlds) and over the Lambda
handler path (a memory World made to cap delays like SQS)."""

from __future__ import annotations

import asyncio
import collections
import json

import pytest

from adapters import lambda_handler
from adapters.memory import MemoryWorld
from bench.bench_workflows import steps_around_a_sleep
from bench.long_sleep_bench import reads_during_hops
from local_emulator import Emulator
from runtime import start
from tests.conftest import ManualClock, installed
from tests.engine import model_workflows as mw
from tests.test_lambda_handler import sqs_event

DAY = 86_400.0


def hops_of(days: int) -> int:
    """Timer hops of a sleep in 900 s hops; the last hop is the workflow's own wake-up."""
    return days * 96 - 1


@pytest.mark.parametrize(
    ("kind", "days", "deliver_twice"),
    # 30 days on the embedded moto take ~24 s (2,879 hops at ~8 ms of moto calls each): the
    # suite runs 3 there (287 hops, the same code for each), and `python -m
    # bench.long_sleep_bench` measures the full 30 days on moto.
    [("memory", 30, False), ("memory", 30, True), ("aws", 3, False), ("aws", 3, True)],
    ids=["memory", "memory-twice", "aws", "aws-twice"],
)
async def test_long_sleep_wakes_the_workflow_once(
    kind: str, days: int, deliver_twice: bool
) -> None:
    async with Emulator(world=kind, virtual_time=True, deliver_twice=deliver_twice) as emu:
        with reads_during_hops(emu.world) as reads:
            run = await start(mw.sleep_for, f"{days}d")
            slept = await run.result(timeout=120)
        assert days * DAY <= slept < days * DAY + 1
        copies = 2 if deliver_twice else 1
        # The start and the end of the sleep; every delivery twice when delivered twice.
        assert emu.workflow_invocations(run.run_id) == 2 * copies
        hops = 0 if emu.world.queue.max_delay > days * DAY else hops_of(days)
        assert emu.invocation_counts[f"timer:{run.run_id}"] == hops * copies
        assert reads["calls"] > 0 and set(reads) == {"calls"}  # none of them during a hop


@pytest.mark.parametrize(("kind", "days"), [("memory", 30), ("aws", 1)])
async def test_a_long_sleep_costs_one_workflow_invocation_at_its_end(kind: str, days: int) -> None:
    """What the sleep itself costs: the run's first invocation runs the workflow up to the
    sleep (as it would run it up to its end without one), and the sleep adds exactly one
    workflow invocation, when it is due; its hops load no run state (above). (On the AWS
    World one day: its 95 hops cost what 2,879 would, in a thirtieth of the time.)"""
    async with Emulator(world=kind, virtual_time=True) as emu:
        awake = await start(steps_around_a_sleep, None)
        assert await awake.result(timeout=30) == 3
        asleep = await start(steps_around_a_sleep, f"{days}d")
        assert await asleep.result(timeout=120) == 3
        without = emu.workflow_invocations(awake.run_id)
        assert without == 1  # both steps inline in one invocation
        assert emu.workflow_invocations(asleep.run_id) == without + 1
        hops = 0 if emu.world.queue.max_delay > days * DAY else hops_of(days)
        assert emu.invocation_counts[f"timer:{asleep.run_id}"] == hops


async def test_hops_over_the_lambda_handler_load_no_run_state(monkeypatch) -> None:
    monkeypatch.setenv("STEPLANE_API_KEYS", "lambda-key")
    clock = ManualClock()
    world = MemoryWorld(clock=clock)
    world.queue.max_delay = 900.0
    async with installed(world):
        run = await start(mw.sleep_for, "30d")
        kinds: collections.Counter[str] = collections.Counter()
        while (await world.runs.get(run.run_id)).status.value != "completed":
            due = world.queue.next_visible_at()
            assert due is not None, "the sleep lost its timer"
            clock.now = max(clock.now, due)
            deliveries = await world.queue.receive(max_messages=10)
            for delivery in deliveries:
                kinds[delivery.body["kind"]] += 1
            timers = [d for d in deliveries if d.body["kind"] == "timer"]
            if timers:
                with reads_during_hops(world) as reads:
                    # A hop delivered twice (SQS is at-least-once): the re-sends share a key.
                    await asyncio.to_thread(lambda_handler.handler, sqs_event(timers * 2), None)
                assert reads["calls"] == 0
            rest = [d for d in deliveries if d.body["kind"] != "timer"]
            if rest:
                await asyncio.to_thread(lambda_handler.handler, sqs_event(rest), None)
            for delivery in deliveries:
                await world.queue.delete(delivery)
        assert kinds == {"workflow": 2, "timer": hops_of(30)}
        assert 30 * DAY <= await run.result(timeout=5) < 30 * DAY + 1


def test_a_timer_message_names_its_due_time_and_hop() -> None:
    from runtime.engine.messages import TimerMessage, WorkflowMessage, parse_message, wake_message

    first, delay = wake_message("run_a", "wf", "w1", due=10_000.0, now=0.0, max_delay=900.0)
    assert first == TimerMessage("run_a", "wf", "w1", 10_000.0, 1) and delay == 900
    assert parse_message(json.dumps(first.body())) == first
    last, delay = wake_message("run_a", "wf", "w1", 10_000.0, 9_500.0, 900.0, hop=11)
    assert last == WorkflowMessage("run_a", "wf", "w1") and delay == 500
    again, _ = wake_message("run_a", "wf", "w1", 10_000.0, 900.0, 900.0, hop=first.hop)
    assert again.idempotency_key == "timer:run_a:w1:2"
