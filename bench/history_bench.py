"""History benchmark: what one workflow invocation costs when the run already has a long log.

A run records `H` inline steps in one invocation, then does `M` more steps that go through the
queue (their timeout is longer than the host's inline budget, so they are never run inline):
each is a step invocation plus a workflow invocation that feeds its result and issues the next,
as every step is on Lambda when the workflow cannot run it inline. The cost per measured step is
the time between two of those steps, in three modes:

- `warm`: the default sticky cache; the workflow invocation finds the suspended instance and
  applies the new events only;
- `cold`: `Emulator(cache_size=0)`, the documented way to run with no warm instance: every
  invocation re-reads the log and re-executes the workflow from its start;
- `cold_process`: `cache_size=0` and every per-process cache emptied before each invocation
  (the data-key cache, and on AWS the log's cache of batch boundaries and decoded batches), as
  a fresh Lambda instance sees it.

Prints JSON: for each World, `H` and mode the median ms per measured step (wall time, and
`cpu_ms_per_step`, this process's CPU time, moto included as it runs in-process: steadier on a
shared machine), and each figure's ratio to the warm cost at the smallest `H` of the same World
in the same run (issue 15's done-when line compares against warm at H=50).

    .venv/bin/python -m bench.history_bench [--worlds memory,aws] [--histories 50,2000,5000]
        [--steps 9] [--modes warm,cold,cold_process]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import time
from typing import Any

from local_emulator import Emulator
from runtime import start, step, workflow
from steplane.runtime.engine.codec import CodecCache

from .bench_workflows import noop

MODES = ("warm", "cold", "cold_process")
_stamps: list[tuple[float, float]] = []


@step(timeout=3600)  # over the host's 60 s inline budget: always queued
async def stamp(i: int) -> int:
    """A measured step: the time it notes is the time its own invocation ran it."""
    _stamps.append((time.perf_counter(), time.process_time()))
    return i


@workflow
async def long_history(history: int, more: int) -> int:
    for i in range(history):
        await noop(i)
    for i in range(more):
        await stamp(i)
    return history + more


def empty_process_caches(emu: Emulator) -> None:
    """Make every invocation see what a fresh process sees: wrap the host's `handle` so it
    drops the data keys and, on AWS, the log's cache before each message (bench-only access
    to the log's private cache: a new process is the only public way to lose it)."""
    host = emu.host
    handle = host.handle
    world: Any = emu.world

    async def cold_handle(raw: Any, **kwargs: Any) -> None:
        host.codecs = CodecCache(world)
        log = world.log
        if hasattr(log, "_cache"):
            log._cache = type(log._cache)(world.aws.config.log_cache_bytes)
        await handle(raw, **kwargs)

    host.handle = cold_handle  # type: ignore[method-assign]


async def measure(world: str, history: int, steps: int, mode: str) -> dict[str, Any]:
    cache_size = 256 if mode == "warm" else 0
    async with Emulator(world=world, cache_size=cache_size) as emu:
        if mode == "cold_process":
            empty_process_caches(emu)
        _stamps.clear()
        run = await start(long_history, history, steps + 1)
        await run.result(timeout=1800)
        walls = [b[0] - a[0] for a, b in itertools.pairwise(_stamps)]
        cpus = [b[1] - a[1] for a, b in itertools.pairwise(_stamps)]
        return {
            "ms_per_step": round(1000 * statistics.median(walls), 3),
            "cpu_ms_per_step": round(1000 * statistics.median(cpus), 3),
            "mean_ms_per_step": round(1000 * statistics.fmean(walls), 3),
            "workflow_invocations": emu.workflow_invocations(run.run_id),
        }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worlds", default="memory,aws")
    parser.add_argument("--histories", default="50,2000,5000")
    parser.add_argument("--steps", type=int, default=9, help="measured invocations per figure")
    parser.add_argument("--modes", default=",".join(MODES))
    args = parser.parse_args()
    histories = [int(h) for h in args.histories.split(",")]
    modes = args.modes.split(",")
    report: dict[str, Any] = {"steps_measured": args.steps, "worlds": {}}
    for world in args.worlds.split(","):
        figures: dict[str, dict[str, Any]] = {}
        for history in histories:
            for mode in modes:
                figures.setdefault(mode, {})[str(history)] = await measure(
                    world, history, args.steps, mode
                )
        base_key = str(min(histories))
        baseline = figures.get("warm", {}).get(base_key, {})
        base, cpu_base = baseline.get("ms_per_step"), baseline.get("cpu_ms_per_step")
        if base and cpu_base:
            for by_history in figures.values():
                for figure in by_history.values():
                    figure["vs_warm_at_smallest"] = round(figure["ms_per_step"] / base, 2)
                    figure["cpu_vs_warm_at_smallest"] = round(
                        figure["cpu_ms_per_step"] / cpu_base, 2
                    )
        report["worlds"][world] = {"baseline": f"warm at H={base_key}", **figures}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
