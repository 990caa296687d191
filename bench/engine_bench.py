"""Engine benchmark: per-step cost of sequential (inline) and fan-out (queued) steps.

Prints JSON. Counts World calls per step (the deterministic metric) beside wall time (noisy on a
shared machine: compare ratios within one run, not absolute numbers across runs).

    .venv/bin/python -m bench.engine_bench [--world memory] [--steps 500] [--fanout 50]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import time
from typing import Any

from local_emulator import Emulator
from runtime import start, step, workflow

STORES = ("log", "runs", "hooks", "blobs", "streams", "queue", "keys")


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


class CountingStore:
    """Wraps one store of a World and counts its async calls as `store.method`."""

    def __init__(self, name: str, store: Any, counts: collections.Counter[str]) -> None:
        self._name, self._store, self._counts = name, store, counts

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(self._store, attribute)
        if not asyncio.iscoroutinefunction(value):
            return value

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self._counts[f"{self._name}.{attribute}"] += 1
            return await value(*args, **kwargs)

        return counted


def count_calls(world: Any) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    for name in STORES:
        setattr(world, name, CountingStore(name, getattr(world, name), counts))
    return counts


async def measure(world_kind: str, workflow_fn: Any, n: int, concurrency: int) -> dict[str, Any]:
    async with Emulator(world=world_kind, concurrency=concurrency) as emu:
        counts = count_calls(emu.world)
        began = time.perf_counter()
        run = await start(workflow_fn, n)
        await run.result(timeout=600)
        elapsed = time.perf_counter() - began
        writes = counts["log.append"]
        return {
            "steps": n,
            "seconds": round(elapsed, 4),
            "ms_per_step": round(1000 * elapsed / n, 3),
            "workflow_invocations": emu.workflow_invocations(run.run_id),
            "log_appends_per_step": round(writes / n, 3),
            "world_calls_per_step": round(sum(counts.values()) / n, 3),
            "calls": dict(sorted(counts.items())),
        }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--world", default="memory")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--fanout", type=int, default=50)
    options = parser.parse_args()
    report = {
        "world": options.world,
        "sequential_inline": await measure(options.world, sequential, options.steps, 4),
        "parallel_fan_out": await measure(options.world, fan_out, options.fanout, 4),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
