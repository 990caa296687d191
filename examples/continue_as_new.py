"""A run that continues itself: each run handles one batch, then starts its successor, so the
work goes on indefinitely while every run's log stays small.

    steplane run examples.continue_as_new:ticker 0 3
"""

from __future__ import annotations

from runtime import get_workflow_metadata, sleep, start, step, workflow


@step
async def process_batch(batch: int) -> str:
    return f"batch {batch} processed"


@step
async def start_successor(batch: int, last_batch: int) -> str:
    # start() from a step: the new run records this run as its parent
    successor = await start(ticker, batch, last_batch)
    return successor.run_id


@workflow(name="ticker")
async def ticker(batch: int = 0, last_batch: int = 3) -> dict:
    outcome = await process_batch(batch)
    if batch >= last_batch:
        return {"batch": batch, "outcome": outcome, "next_run": None}
    await sleep("1m")
    next_run = await start_successor(batch + 1, last_batch)
    return {
        "batch": batch,
        "outcome": outcome,
        "next_run": next_run,
        "run": get_workflow_metadata().run_id,
    }
