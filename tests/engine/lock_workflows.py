"""Workflows and steps of the flow-control scenarios (tests/engine/test_flow_control.py)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from runtime import Limit, Rate, create_hook, get_step_metadata, lock, step, workflow

# In-process side effects: (name, start, end) real-time intervals of critical sections.
sections: list[tuple[str, float, float]] = []
running: dict[str, int] = {}
peaks: dict[str, int] = {}


@step
async def stamp() -> float:
    """The World clock when the step ran (virtual time included), as recorded."""
    return get_step_metadata().started_at.timestamp()


@step
async def critical(name: str, seconds: float) -> tuple[float, float]:
    """A critical section that takes real time, so that overlaps would show."""
    began = time.monotonic()
    running["lock"] = running.get("lock", 0) + 1
    peaks["lock"] = max(peaks.get("lock", 0), running["lock"])
    await asyncio.sleep(seconds)
    running["lock"] -= 1
    ended = time.monotonic()
    sections.append((name, began, ended))
    return began, ended


@workflow
async def contend(name: str, seconds: float = 0.005) -> dict[str, Any]:
    async with lock("account:42") as held:
        began, ended = await critical(name, seconds)
        return {"name": name, "fence": held.fence, "began": began, "ended": ended}


@workflow
async def hold_until_told(name: str, lease: float) -> int | None:
    """Takes the lock, then waits for a hook: a holder that stops making progress."""
    async with lock(name, lease=lease) as held:
        await create_hook(token=f"release:{name}")
        return held.fence


@workflow
async def take_after(name: str) -> float:
    async with lock(name, lease=60):
        return await stamp()


@workflow(concurrency=Limit(key=lambda order: order["account"], max=2))
async def limited(order: dict[str, Any]) -> str:
    await overlap_probe(order["id"])
    return order["id"]


@step
async def overlap_probe(name: str) -> tuple[float, float]:
    running["limit"] = running.get("limit", 0) + 1
    peaks["limit"] = max(peaks.get("limit", 0), running["limit"])
    began = time.monotonic()
    await asyncio.sleep(0.01)
    running["limit"] -= 1
    return began, time.monotonic()


@step(concurrency=Limit(key=lambda name: "shared", max=2))
async def limited_step(name: str) -> str:
    running["step"] = running.get("step", 0) + 1
    peaks["step"] = max(peaks.get("step", 0), running["step"])
    await asyncio.sleep(0.01)
    running["step"] -= 1
    return name


@workflow
async def fan_out_limited(n: int) -> list[str]:
    return list(await asyncio.gather(*(limited_step(f"s{i}") for i in range(n))))


@step(rate=Rate(10, per="1s"))
async def rated(i: int) -> float:
    return get_step_metadata().started_at.timestamp()


@workflow
async def fan_out_rated(n: int) -> list[float]:
    return list(await asyncio.gather(*(rated(i) for i in range(n))))


@workflow
async def lock_with_timeout(name: str) -> str:
    """Gives up waiting after a while (asyncio.timeout is durable): leaves the queue."""
    try:
        async with asyncio.timeout(5):
            async with lock(name):
                return "got it"
    except TimeoutError:
        return "gave up"


def reset() -> None:
    sections.clear()
    running.clear()
    peaks.clear()


@workflow
async def debounced(value: int) -> int:
    return value


unstick = asyncio.Event()


@step
async def hang() -> None:
    """A critical section whose host is stuck (bounded: the test sets `unstick`)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(unstick.wait(), timeout=15)


@workflow
async def hang_in_lock(name: str) -> int | None:
    async with lock(name, lease=1) as held:
        await hang()
        return held.fence
