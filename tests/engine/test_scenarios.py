"""The engine's acceptance scenarios, end to end through the emulator's function host."""

from __future__ import annotations

import asyncio
import time

import pytest

from runtime import (
    HookNotFoundError,
    WorkflowFailedError,
    resume_hook,
    start,
)
from tests.engine import workflows as wf


async def _wait_for_event(run, event_type: str, timeout: float = 5.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = await run.events()
        if any(e["type"] == event_type for e in events):
            return events
        await asyncio.sleep(0.01)
    raise AssertionError(f"{run.run_id} never recorded {event_type}")


def _types(events: list[dict]) -> list[str]:
    return [e["type"] for e in events]


async def test_addition(make_emulator) -> None:
    async with make_emulator():
        run = await start(wf.addition, 2, 3)
        assert await run.result(timeout=30) == 5
        assert await run.status() == "completed"


async def test_gather_then_sequence_has_twenty_distinct_step_ids(make_emulator) -> None:
    async with make_emulator():
        run = await start(wf.gather_then_sequence)
        step_ids = await run.result(timeout=20)
        assert len(step_ids) == 20
        assert len(set(step_ids)) == 20
        created = [e for e in await run.events() if e["type"] == "step_created"]
        assert [e["correlation_id"] for e in created] == step_ids


async def test_hook_with_custom_token_and_metadata_resumed_three_times(make_emulator) -> None:
    async with make_emulator():
        run = await start(wf.three_payloads, "order-7:approve")
        await _wait_for_event(run, "hook_created")
        for payload in ({"n": 1}, "two", [3]):
            assert await resume_hook("order-7:approve", payload) == run.run_id
        result = await run.result(timeout=30)
        assert result == {
            "payloads": [{"n": 1}, "two", [3]],
            "metadata": {"purpose": "test", "n": 3},
        }
        with pytest.raises(HookNotFoundError, match="no live hook") as error:
            await resume_hook("order-7:approve", "late")
        assert "order-7" not in str(error.value)


async def test_async_for_over_hook_and_dispose(make_emulator) -> None:
    async with make_emulator():
        run = await start(wf.iterate_hook, "iter-token")
        await _wait_for_event(run, "hook_created")
        for payload in ("a", "b", "stop"):
            await resume_hook("iter-token", payload)
        assert await run.result(timeout=30) == ["a", "b"]
        assert _types(await run.events()).count("hook_disposed") == 1


async def test_random_hook_token_is_long_and_stable(make_emulator) -> None:
    async with make_emulator(cache_size=0):
        run = await start(wf.random_token_hook)
        events = await _wait_for_event(run, "hook_created")
        token = next(e for e in events if e["type"] == "step_created")["data"]["args"][0]
        assert len(token) >= 22  # >= 128 bits, URL-safe base64
        assert await resume_hook(token, "hello") == run.run_id
        assert await run.result(timeout=30) == "hello"


@pytest.mark.parametrize(
    "value",
    ["nul\x00byte", b"\x00\xffbytes", {"nested": ("tuple", {1, 2}), "text": "a\x00b"}],
    ids=["str-with-nul", "bytes", "nested"],
)
async def test_values_round_trip(make_emulator, value) -> None:
    async with make_emulator():
        run = await start(wf.round_trip, value)
        assert await run.result(timeout=30) == value


@pytest.mark.slow
async def test_retry_after_is_honoured_and_fatal_error_is_caught(make_emulator) -> None:
    async with make_emulator():
        run = await start(wf.retry_then_fatal)
        result = await run.result(timeout=20)
        first, second = result["starts"]
        assert second - first >= 2.0
        assert result["caught"] == "card declined"
        events = await run.events()
        fatal_id = next(
            e["correlation_id"] for e in events if e.get("step_name", "").endswith(":fatal")
        )
        fatal_attempts = [
            e for e in events if e["type"] == "step_started" and e["correlation_id"] == fatal_id
        ]
        assert len(fatal_attempts) == 1  # FatalError is never retried


async def test_retry_after_in_virtual_time(make_emulator) -> None:
    async with make_emulator(virtual_time=True):
        run = await start(wf.retry_then_fatal)
        first, second = (await run.result(timeout=30))["starts"]
        assert second - first >= 2.0


async def test_three_sequential_steps_take_one_invocation(make_emulator) -> None:
    async with make_emulator() as emu:
        run = await start(wf.three_steps, 0)
        assert await run.result(timeout=30) == 111
        assert emu.workflow_invocations(run.run_id) == 1


async def test_sleep_then_step_takes_two_invocations(make_emulator) -> None:
    async with make_emulator(virtual_time=True) as emu:
        run = await start(wf.sleep_then_step)
        assert await run.result(timeout=30) == 42
        assert emu.workflow_invocations(run.run_id) == 2


async def test_compensation_after_exhausted_retries(make_emulator) -> None:
    async with make_emulator(virtual_time=True):
        run = await start(wf.checkout_with_compensation, "o-1")
        result = await run.result(timeout=30)
        assert result == {"compensated": "released o-1", "error": "declined o-1"}
        assert wf.calls["charge:o-1"] == [1, 2, 3]
        types = _types(await run.events())
        assert types.count("step_retrying") == 2
        assert types.count("step_failed") == 1


async def test_uncaught_step_failure_fails_the_run(make_emulator) -> None:
    async with make_emulator():
        run = await start(wf.step_failure_uncaught)
        with pytest.raises(WorkflowFailedError) as failure:
            await run.result(timeout=30)
        assert failure.value.code == "USER_ERROR"
        assert "ConnectionResetError: peer went away" in failure.value.message


async def test_failed_workflow_reports_user_error(make_emulator) -> None:
    async with make_emulator():
        run = await start(wf.raises_in_workflow, "boom at checkout")
        with pytest.raises(WorkflowFailedError) as failure:
            await run.result(timeout=30)
        assert failure.value.code == "USER_ERROR"
        assert failure.value.message == "ValueError: boom at checkout"
        assert await run.status() == "failed"


async def test_cancel_while_sleeping(make_emulator) -> None:
    async with make_emulator():
        run = await start(wf.long_sleep)
        await _wait_for_event(run, "wait_created")
        await run.cancel()
        assert await run.status() == "cancelled"
        with pytest.raises(WorkflowFailedError) as failure:
            await run.result(timeout=30)
        assert failure.value.code == "CANCELLED"
        events = await run.events()
        assert _types(events)[-1] == "run_cancelled"
        assert "wait_completed" not in _types(events)
        await run.cancel()  # cancelling an ended run changes nothing
        assert await run.events() == events


async def test_cancel_frees_hook_tokens(make_emulator) -> None:
    async with make_emulator():
        run = await start(wf.hold_hook, "shared-token")
        await _wait_for_event(run, "hook_created")
        await run.cancel()
        with pytest.raises(HookNotFoundError):
            await resume_hook("shared-token", 1)
        second = await start(wf.hold_hook, "shared-token")
        await _wait_for_event(second, "hook_created")
        await resume_hook("shared-token", "reused")
        assert await second.result(timeout=30) == "reused"


@pytest.mark.parametrize("cache_size", [0, 256], ids=["cold-replay", "sticky-cache"])
async def test_now_random_uuid4_identical_across_replays(make_emulator, cache_size) -> None:
    async with make_emulator(virtual_time=True, cache_size=cache_size) as emu:
        run = await start(wf.deterministic_values)
        result = await run.result(timeout=30)
        assert result["same"] is True
        assert emu.workflow_invocations(run.run_id) == 2
        other = await (await start(wf.deterministic_values)).result(timeout=30)
        assert other["values"][1:3] != result["values"][1:3]  # seeded per run, not globally


async def test_divergence_is_detected_and_nothing_recorded_is_lost(make_emulator) -> None:
    async with make_emulator(cache_size=0):
        wf.VERSION["branch"] = "a"
        try:
            run = await start(wf.evolving, "evolve-1")
            before = await _wait_for_event(run, "hook_created")
            wf.VERSION["branch"] = "b"  # a deploy changed the code under a suspended run
            await resume_hook("evolve-1", "go")
            with pytest.raises(WorkflowFailedError) as failure:
                await run.result(timeout=30)
        finally:
            wf.VERSION["branch"] = "a"
        assert failure.value.code == "REPLAY_DIVERGENCE"
        assert "branch_a" in failure.value.message and "branch_b" in failure.value.message
        after = await run.events()
        assert after[: len(before)] == before
        assert _types(after)[-1] == "run_failed"


@pytest.mark.slow
async def test_thousand_step_sequential_run(make_emulator) -> None:
    async with make_emulator() as emu:
        run = await start(wf.sequential, 1000)
        assert await run.result(timeout=120) == sum(range(1000))
        assert emu.workflow_invocations(run.run_id) == 1


@pytest.mark.slow
async def test_four_steps_run_in_parallel(make_emulator) -> None:
    wf.RENDEZVOUS.clear()
    async with make_emulator(concurrency=4):
        run = await start(wf.four_meet_in_parallel)
        assert await run.result(timeout=30) == [0, 1, 2, 3]


async def test_plain_def_step_runs_in_a_thread(make_emulator) -> None:
    async with make_emulator():
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        run = await start(wf.plain_def_step, 0.3)
        thread_name = await run.result(timeout=30)
        ticker.cancel()
        assert thread_name != "MainThread"
        assert ticks >= 10  # the event loop kept running while the step blocked


async def test_asyncio_timers_are_durable(make_emulator) -> None:
    async with make_emulator(virtual_time=True, cache_size=0):
        run = await start(wf.asyncio_timers)
        result = await run.result(timeout=30)
        assert 30.0 <= result.pop("slept") < 31.0  # now() after a durable sleep
        assert result == {
            "timed_out": True,
            "quick": 2,
            "as_completed": [4, 6],
            "wait": [10],
        }
        types = _types(await run.events())
        assert types.count("wait_created") >= 2


async def test_stream_read_live_and_resumed(make_emulator) -> None:
    async with make_emulator():
        run = await start(wf.streaming, 3)
        chunks = [chunk async for chunk in run.stream()]
        expected = [{"progress": 0}, {"progress": 1}, {"progress": 2}, b"\x00raw", "done"]
        assert chunks == expected
        assert [c async for c in run.stream(start_index=3)] == expected[3:]
        assert await run.result(timeout=30) == 3


async def test_run_continues_itself_through_children(make_emulator) -> None:
    async with make_emulator():
        run = await start(wf.countdown, 3)
        seen = []
        while run is not None:
            result = await run.result(timeout=30)
            seen.append(result["n"])
            events = await run.events()
            assert len(events) < 20  # every run's log stays small
            run = None if result["child"] is None else type(run)(result["child"], run.world)
        assert seen == [3, 2, 1, 0]


async def test_plain_def_step_writes_a_stream_with_write_sync(make_emulator) -> None:
    async with make_emulator():
        run = await start(wf.plain_def_stream, 3)
        assert [c async for c in run.stream("thread")] == [0, 1, 2]
        assert await run.result(timeout=30) == 3


async def test_asyncio_wait_takes_step_calls_directly(make_emulator) -> None:
    async with make_emulator():
        run = await start(wf.wait_on_step_calls)
        assert await run.result(timeout=30) == [2, 4]
