"""ETL fan-out: extract a batch of records, transform each in parallel, load the results.

    steplane run examples.etl:etl 40

Each `transform` call is its own step invocation; `asyncio.gather` fans them out through the
queue so they run side by side (as many at once as the host's concurrency allows).
"""

from __future__ import annotations

import asyncio

from runtime import step, workflow


@step
async def extract(count: int) -> list[dict]:
    return [{"id": i, "celsius": (i * 7) % 40} for i in range(count)]


@step(max_retries=5)
async def transform(record: dict) -> dict:
    return {"id": record["id"], "fahrenheit": record["celsius"] * 9 / 5 + 32}


@step
async def load(rows: list[dict]) -> int:
    return len(rows)


@workflow(name="etl")
async def etl(count: int = 20) -> dict:
    records = await extract(count)
    rows = await asyncio.gather(*(transform(record) for record in records))
    loaded = await load(list(rows))
    hottest = max(rows, key=lambda row: row["fahrenheit"])
    return {"loaded": loaded, "hottest": hottest}
