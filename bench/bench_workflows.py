"""Workflows for the benchmarks, in a module of their own so that a fresh Lambda-like
process can load them through `STEPLANE_MODULES` without importing the benchmark (or the
emulator, uvicorn and httpx it uses).
"""

from __future__ import annotations

import asyncio

from runtime import sleep, step, workflow


@step
async def noop(i: int) -> int:
    return i


@workflow
async def sequential(n: int) -> int:
    for i in range(n):
        await noop(i)
    return n


@workflow
async def fan_out(n: int) -> int:
    return len(await asyncio.gather(*(noop(i) for i in range(n))))


@workflow
async def tiny(i: int) -> int:
    """One inline step: a single workflow invocation runs the whole run."""
    return await noop(i)


@workflow
async def zero_steps() -> int:
    """No step at all: its start -> result latency is the run's fixed cost."""
    return 0


@step
async def blob_of(size: int) -> bytes:
    return b"\xa5" * size


@workflow
async def big_result(size: int) -> int:
    """A `size`-byte bytes step result, recorded and read back by the workflow."""
    return len(await blob_of(size))


@workflow
async def steps_around_a_sleep(duration: str | None) -> int:
    """A step, an optional durable sleep, a step: what the sleep adds is what it costs."""
    before = await noop(1)
    if duration is not None:
        await sleep(duration)
    return before + await noop(2)
