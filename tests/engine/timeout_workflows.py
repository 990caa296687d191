"""Workflows for the step-timeout and idempotency scenarios."""

from __future__ import annotations

import asyncio
import threading
import time

from runtime import StepTimeoutError, create_hook, get_step_metadata, step, workflow

late_results: list[str] = []
"""What plain-def steps finished after their attempt had already timed out."""
sync_done = threading.Event()


@step(timeout="200ms", max_retries=1)
async def slow_async() -> str:
    await asyncio.sleep(30)
    return "never"


@step(timeout="150ms", max_retries=0)
def slow_sync() -> str:
    time.sleep(0.6)
    late_results.append(f"finished attempt {get_step_metadata().attempt}")
    sync_done.set()
    return "late"


@step(timeout="5s")
async def quick() -> str:
    return "quick"


@workflow(name="timeouts.catch_async")
async def catch_async() -> dict:
    try:
        await slow_async()
    except StepTimeoutError as error:
        return {"error": str(error), "type": type(error).__name__}
    return {"error": None}


@workflow(name="timeouts.sync_times_out")
async def sync_times_out() -> str:
    return await slow_sync()


@workflow(name="timeouts.quick")
async def quick_wf(label: str) -> str:
    return f"{label}:{await quick()}"


@workflow(name="timeouts.wait_for_hook")
async def wait_for_hook(token: str) -> list:
    hook = create_hook(token=token)
    payloads = []
    async for payload in hook:
        payloads.append(payload)
        if payload == "done":
            return payloads
    return payloads


@step
async def long_running(seconds: float) -> str:
    """Stands in for a 400 s step, scaled down with the queue's visibility timeout."""
    await asyncio.sleep(seconds)
    return f"slept {seconds}"


@workflow(name="timeouts.long_step")
async def long_step(seconds: float) -> str:
    return await long_running(seconds)
