"""A long job that reports progress on a durable stream a client reads live (and can resume).

    steplane run examples.streaming:report 5

Read it from code while it runs:

    run = await start(report, 5)
    async for chunk in run.stream():          # or run.stream(start_index=n) to resume
        print(chunk)
"""

from __future__ import annotations

import asyncio

from runtime import get_writable, step, workflow


@step
async def crunch(parts: int) -> int:
    progress = get_writable()
    total = 0
    for part in range(1, parts + 1):
        await asyncio.sleep(0.05)  # real work goes here
        total += part * part
        await progress.write({"part": part, "of": parts, "subtotal": total})
    await progress.write("done")
    await progress.close()
    return total


@workflow(name="report")
async def report(parts: int = 5) -> dict:
    return {"parts": parts, "sum_of_squares": await crunch(parts)}
