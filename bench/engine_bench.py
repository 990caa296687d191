"""Engine benchmark: per-step cost of sequential (inline) and fan-out (queued) steps, on the
in-memory World and on the AWS World (moto in-process) in the same run.

Prints JSON. The deterministic metrics are calls per step: World calls for every World, and AWS
API calls by kind for the AWS World, with durable writes per step (and, for the inline
sequence, `aws_durable_writes_per_step_beyond_a_run`: beyond the writes of a run with no step,
which every run pays once: record, `run_created`, the ending and its status; and
`aws_durable_writes_per_added_step` / `aws_calls_per_added_step`: what one more inline step
adds, the difference between the run and one a tenth as long, over the steps between them).
`aws_calls_per_step` leaves out `sqs.ReceiveMessage`: those are the event source's polls (on
Lambda, the event source mapping's), paced by time, not by steps; they are reported apart as
`consumer_receives`. Also measured: `zero_step`, the median start -> result latency of a
workflow with no step (and its calls per run). Wall times are noisy on a shared machine:
compare the ratios within one run (`aws_vs_memory`), not absolute numbers across runs.
`--fanout 1000 --concurrency 8` is issue 15's fan-out figure.

    .venv/bin/python -m bench.engine_bench [--worlds memory,aws] [--steps 300] [--fanout 50]
                                           [--concurrency 4] [--zero-runs 20]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import statistics
import time
from typing import Any

from local_emulator import Emulator
from runtime import start

from .bench_workflows import fan_out, sequential, zero_steps

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
    """Count the World's calls from now on: its stores', and `world.create_run` (a World may
    write a start in one call; the memory World's shows the store calls it makes as well)."""
    counts: collections.Counter[str] = collections.Counter()
    for name in STORES:
        setattr(world, name, CountingStore(name, getattr(world, name), counts))
    create_run = world.create_run

    async def counted_create_run(*args: Any, **kwargs: Any) -> Any:
        counts["world.create_run"] += 1
        return await create_run(*args, **kwargs)

    world.create_run = counted_create_run
    return counts


async def measure(world_kind: str, workflow_fn: Any, n: int, concurrency: int) -> dict[str, Any]:
    async with Emulator(world=world_kind, concurrency=concurrency) as emu:
        counts = count_calls(emu.world)
        reset_aws_calls = getattr(emu.world, "reset_calls", None)
        if reset_aws_calls is not None:
            reset_aws_calls()
        conflicts = count_conflicts(emu.world)
        began, cpu_began = time.perf_counter(), time.process_time()
        run = await start(workflow_fn, n)
        await run.result(timeout=600)
        elapsed = time.perf_counter() - began
        cpu = time.process_time() - cpu_began
        report: dict[str, Any] = {
            "steps": n,
            "seconds": round(elapsed, 4),
            "cpu_seconds": round(cpu, 3),
            "ms_per_step": round(1000 * elapsed / n, 3),
            "workflow_invocations": emu.workflow_invocations(run.run_id),
            "log_appends_per_step": round(counts["log.append"] / n, 3),
            "world_calls_per_step": round(sum(counts.values()) / n, 3),
            "world_calls": dict(sorted(counts.items())),
        }
        report.update(aws_report(emu.world, n, "step"))
        if conflicts is not None:
            report["aws_conditional_conflicts"] = sum(conflicts.values())
        return report


def count_conflicts(world: Any) -> collections.Counter[str] | None:
    """Failed conditional writes (`ConditionalCheckFailedException`) by call, on the AWS
    World: the races a fan-out's results run on the log's head. None on other Worlds."""
    clients = getattr(world, "aws", None)
    if clients is None or not hasattr(clients, "reset_calls"):
        return None
    conflicts: collections.Counter[str] = collections.Counter()

    def after_call(event_name: str = "", parsed: Any = None, **_: Any) -> None:
        error = parsed.get("Error", {}) if isinstance(parsed, dict) else {}
        if error.get("Code") == "ConditionalCheckFailedException":
            conflicts[event_name.partition(".")[2]] += 1

    clients.dynamodb.meta.events.register("after-call", after_call)
    return conflicts


async def measure_zero_step(world_kind: str, runs: int) -> dict[str, Any]:
    """Start -> result of `runs` workflows with no step, one at a time, after a warm-up."""
    async with Emulator(world=world_kind) as emu:
        await (await start(zero_steps)).result(timeout=60)
        counts = count_calls(emu.world)
        reset_aws_calls = getattr(emu.world, "reset_calls", None)
        if reset_aws_calls is not None:
            reset_aws_calls()
        latencies = []
        for _ in range(runs):
            began = time.perf_counter()
            await (await start(zero_steps)).result(timeout=60)
            latencies.append(time.perf_counter() - began)
        report: dict[str, Any] = {
            "runs": runs,
            "median_ms": round(1000 * statistics.median(latencies), 3),
            "world_calls_per_run": round(sum(counts.values()) / runs, 3),
            "world_calls": dict(sorted(counts.items())),
        }
        report.update(aws_report(emu.world, runs, "run"))
        return report


def aws_report(world: Any, n: int, unit: str) -> dict[str, Any]:
    """AWS calls by kind per `unit` (polls of the queue apart), and durable writes."""
    aws_calls = getattr(world, "calls", None)
    if not isinstance(aws_calls, dict):
        return {}
    calls = dict(aws_calls)
    receives = calls.pop(RECEIVE, 0)
    writes = sum(v for k, v in calls.items() if k.split(".")[1] in WRITES)
    writes += getattr(world, "batched_writes", 0)  # the items of BatchWriteItem calls
    total = sum(calls.values())
    return {
        "aws_calls": total,
        "aws_durable_writes": writes,
        f"aws_calls_per_{unit}": round(total / n, 3),
        f"aws_durable_writes_per_{unit}": round(writes / n, 3),
        f"aws_calls_per_{unit}_by_kind": {k: round(v / n, 3) for k, v in sorted(calls.items())},
        "consumer_receives": receives,
    }


WRITES = {"PutItem", "UpdateItem", "DeleteItem", "PutObject", "UploadPart"}
RECEIVE = "sqs.ReceiveMessage"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worlds", default="memory,aws")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--fanout", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--zero-runs", type=int, default=20)
    options = parser.parse_args()
    report: dict[str, Any] = {}
    for world in options.worlds.split(","):
        shapes: dict[str, Any] = {}  # --steps 0 / --fanout 0 / --zero-runs 0 leave one out
        if options.steps:
            shapes["sequential_inline"] = await measure(world, sequential, options.steps, 4)
            if world == "aws" and options.steps > 1:  # for what one more step adds
                shapes["sequential_inline_short"] = await measure(
                    world, sequential, max(1, options.steps // 10), 4
                )
        if options.fanout:
            shapes["parallel_fan_out"] = await measure(
                world, fan_out, options.fanout, options.concurrency
            )
        if options.zero_runs:
            shapes["zero_step"] = await measure_zero_step(world, options.zero_runs)
        report[world] = shapes
    aws = report.get("aws")
    # what a step adds to a run's fixed writes (start, ending, status)
    if aws is not None and {"sequential_inline", "zero_step"} <= aws.keys():
        inline, zero = aws["sequential_inline"], aws["zero_step"]
        inline["aws_durable_writes_per_step_beyond_a_run"] = round(
            (inline["aws_durable_writes"] - zero["aws_durable_writes_per_run"]) / inline["steps"],
            3,
        )
    # what one more step costs: the difference between a long and a short run of steps
    if aws is not None and {"sequential_inline", "sequential_inline_short"} <= aws.keys():
        long, short = aws["sequential_inline"], aws.pop("sequential_inline_short")
        added = long["steps"] - short["steps"]
        for total in ("aws_calls", "aws_durable_writes"):
            per_added = (long[total] - short[total]) / added
            long[f"{total}_per_added_step"] = round(per_added, 3)
    if "memory" in report and "aws" in report:
        report["aws_vs_memory"] = {
            shape: round(
                report["aws"][shape]["ms_per_step"] / report["memory"][shape]["ms_per_step"], 1
            )
            for shape in ("sequential_inline", "parallel_fan_out")
            if shape in report["aws"] and shape in report["memory"]
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
