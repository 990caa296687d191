"""Engine benchmark: per-step cost of sequential (inline) and fan-out (queued) steps, on the
in-memory World and on the AWS World (moto in-process) in the same run.

Prints JSON. The deterministic metrics are calls per step: World calls for every World, and AWS
API calls for the AWS World. Wall times are noisy on a shared machine: compare the ratios within
one run (`aws_vs_memory`), not absolute numbers across runs.

    .venv/bin/python -m bench.engine_bench [--worlds memory,aws] [--steps 300] [--fanout 50]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import time
from typing import Any

from local_emulator import Emulator
from runtime import start

from .bench_workflows import fan_out, sequential

STORES = ("log", "runs", "hooks", "blobs", "streams", "queue", "keys")


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
        reset_aws_calls = getattr(emu.world, "reset_calls", None)
        if reset_aws_calls is not None:
            reset_aws_calls()
        began = time.perf_counter()
        run = await start(workflow_fn, n)
        await run.result(timeout=600)
        elapsed = time.perf_counter() - began
        report: dict[str, Any] = {
            "steps": n,
            "seconds": round(elapsed, 4),
            "ms_per_step": round(1000 * elapsed / n, 3),
            "workflow_invocations": emu.workflow_invocations(run.run_id),
            "log_appends_per_step": round(counts["log.append"] / n, 3),
            "world_calls_per_step": round(sum(counts.values()) / n, 3),
            "world_calls": dict(sorted(counts.items())),
        }
        aws_calls = getattr(emu.world, "calls", None)
        if isinstance(aws_calls, dict):
            writes = sum(v for k, v in aws_calls.items() if k.split(".")[1] in WRITES)
            report["aws_calls_per_step"] = round(sum(aws_calls.values()) / n, 3)
            report["aws_durable_writes_per_step"] = round(writes / n, 3)
            report["aws_calls"] = dict(sorted(aws_calls.items()))
        return report


WRITES = {"PutItem", "UpdateItem", "DeleteItem", "PutObject", "UploadPart"}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worlds", default="memory,aws")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--fanout", type=int, default=50)
    options = parser.parse_args()
    report: dict[str, Any] = {}
    for world in options.worlds.split(","):
        report[world] = {
            "sequential_inline": await measure(world, sequential, options.steps, 4),
            "parallel_fan_out": await measure(world, fan_out, options.fanout, 4),
        }
    if "memory" in report and "aws" in report:
        report["aws_vs_memory"] = {
            shape: round(
                report["aws"][shape]["ms_per_step"] / report["memory"][shape]["ms_per_step"], 1
            )
            for shape in ("sequential_inline", "parallel_fan_out")
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
