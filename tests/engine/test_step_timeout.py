"""`@step(timeout=...)`: an attempt past its timeout fails with StepTimeoutError and is retried
per the step's policy, for async steps (cancelled) and plain-def steps (abandoned)."""

from __future__ import annotations

import asyncio

import pytest

from runtime import WorkflowFailedError, start, step
from tests.engine import timeout_workflows as tw

MODULES = ["tests.engine.timeout_workflows"]


async def test_async_step_past_its_timeout_fails_after_its_retries(make_emulator) -> None:
    async with make_emulator(modules=MODULES, virtual_time=True):
        run = await start(tw.catch_async)
        result = await run.result(timeout=20)
        assert result == {
            "error": "step 'tests.engine.timeout_workflows:slow_async' timed out after 200ms",
            "type": "StepTimeoutError",
        }
        kinds = [(e["type"], e.get("attempt")) for e in await run.events()]
        assert ("step_retrying", 1) in kinds and ("step_failed", 2) in kinds


async def test_plain_def_step_times_out_and_its_late_result_is_ignored(make_emulator) -> None:
    tw.late_results.clear()
    tw.sync_done.clear()
    async with make_emulator(modules=MODULES):
        run = await start(tw.sync_times_out)
        with pytest.raises(WorkflowFailedError) as failed:
            await run.result(timeout=20)
        assert "timed out after 150ms" in failed.value.message
        assert await asyncio.to_thread(tw.sync_done.wait, 5)  # the thread ran on ...
        await asyncio.sleep(0.05)
        events = await run.events()
    assert tw.late_results == ["finished attempt 1"]
    completed = [e for e in events if e["type"] == "step_completed"]
    assert completed == []  # ... but its result was never recorded


async def test_a_step_within_its_timeout_completes(make_emulator) -> None:
    async with make_emulator(modules=MODULES):
        run = await start(tw.quick_wf, "a")
        assert await run.result(timeout=30) == "a:quick"


@pytest.mark.parametrize("bad", ["soon", -1, 0, "0s"])
def test_a_bad_timeout_is_refused_where_it_is_written(bad) -> None:
    with pytest.raises(ValueError, match="timeout"):

        @step(timeout=bad, name=f"bad-timeout-{bad}")
        async def never() -> None: ...
