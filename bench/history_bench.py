"""History benchmark: what a step costs when the run already has a long log, warm and cold.

A run records `H` inline steps in one invocation, then does `M` more steps that go through the
queue (their timeout is longer than the host's inline budget, so they are never run inline):
each is a step invocation, and a workflow invocation that feeds its outcome and issues the
next. The cost per measured step is the time between two of those steps, in five modes:

- `warm`: the default sticky cache; a workflow invocation finds the suspended instance.
- `cold`: `Emulator(cache_size=0)`, the documented way to run with no warm instance: every
  invocation starts without one. The invocation that queues a step waits in place for its
  outcome (engine/wait_in_place.py), so a run of queued steps replays once, not once a step;
  the step's continuation, delayed past the waiter's window, is settled from the log.
- `cold_process`: `cold`, and every per-process cache emptied before each message (the
  data-key cache, and on AWS the log's cache of batch boundaries and decoded batches), as a
  fresh Lambda instance sees it.
- `cold_replay`, `cold_process_replay`: the same with waiting in place off
  (`FunctionHost.wait_in_place_seconds = 0`): every workflow invocation re-executes the run
  from its start. What a cold invocation costs when it cannot be avoided (a step that outlasts
  the wait, a hook payload or a timer on a cold instance).

After each run the benchmark waits until the queue is empty, so the delayed continuations are
handled and counted: `workflow_invocations`, `replays` (invocations that re-executed the
workflow from `run_created`), `settled` (continuations answered from the log, no replay) and
their median cost `settled_ms`.

Prints JSON: for each World, `H` and mode the median ms per measured step (wall, and
`cpu_ms_per_step`, this process's CPU time, moto included as it runs in-process: steadier on a
shared machine), each figure's ratio to warm at the smallest `H` of the same World in the same
run, and `targets`: issue 15's done-when line (cold at the largest H within 2x of warm at the
smallest, cold process within 3x), met or not, on wall and CPU time.

    .venv/bin/python -m bench.history_bench [--worlds memory,aws] [--histories 50,2000,5000]
        [--steps 9] [--modes warm,cold,cold_process,cold_replay,cold_process_replay]
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
from steplane.runtime.engine.instance import WorkflowInstance

from .bench_workflows import noop

MODES = ("warm", "cold", "cold_process", "cold_replay", "cold_process_replay")
TARGETS = {"cold": 2.0, "cold_process": 3.0}
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


class Watch:
    """Wraps the emulator host's `handle` (bench-only access to private parts): empties the
    per-process caches before each message in a cold-process mode (a new process is the only
    public way to lose them), and times the continuations settled without a replay."""

    def __init__(self, emu: Emulator, *, cold_process: bool) -> None:
        self.settled_ms: list[float] = []
        self.replays = 0
        host = emu.host
        handle = host.handle
        world: Any = emu.world
        watch = self

        async def watched(raw: Any, **kwargs: Any) -> None:
            if cold_process:
                host.codecs = CodecCache(world)
                log = world.log
                if hasattr(log, "_cache"):
                    log._cache = type(log._cache)(world.aws.config.log_cache_bytes)
            before = watch.replays
            began = time.perf_counter()
            await handle(raw, **kwargs)
            body = raw if isinstance(raw, dict) else {}
            if body.get("after") is not None and watch.replays == before:
                watch.settled_ms.append(1000 * (time.perf_counter() - began))

        host.handle = watched  # type: ignore[method-assign]
        # A new instance is a replay: it is fed the run's log from `run_created`.
        self._post_init = post_init = WorkflowInstance.__post_init__

        def counted(instance: WorkflowInstance) -> None:
            watch.replays += 1
            post_init(instance)

        WorkflowInstance.__post_init__ = counted  # type: ignore[method-assign]

    def close(self) -> None:
        WorkflowInstance.__post_init__ = self._post_init  # type: ignore[method-assign]


async def drained(emu: Emulator, timeout: float = 60.0) -> None:
    """Wait (bounded) until every message, delayed continuations included, is handled."""
    deadline = time.monotonic() + timeout
    while emu.world.queue.depth() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


async def measure(world: str, history: int, steps: int, mode: str) -> dict[str, Any]:
    cache_size = 256 if mode == "warm" else 0
    async with Emulator(world=world, cache_size=cache_size) as emu:
        if mode.endswith("_replay"):
            emu.host.wait_in_place_seconds = 0.0
        watch = Watch(emu, cold_process=mode.startswith("cold_process"))
        try:
            _stamps.clear()
            run = await start(long_history, history, steps + 1)
            await run.result(timeout=1800)
            await drained(emu)
        finally:
            watch.close()
        walls = [b[0] - a[0] for a, b in itertools.pairwise(_stamps)]
        cpus = [b[1] - a[1] for a, b in itertools.pairwise(_stamps)]
        settled = watch.settled_ms
        return {
            "ms_per_step": round(1000 * statistics.median(walls), 3),
            "cpu_ms_per_step": round(1000 * statistics.median(cpus), 3),
            "mean_ms_per_step": round(1000 * statistics.fmean(walls), 3),
            "workflow_invocations": emu.workflow_invocations(run.run_id),
            "replays": watch.replays,
            "settled": len(settled),
            "settled_ms": round(statistics.median(settled), 3) if settled else None,
        }


def targets(figures: dict[str, dict[str, Any]], smallest: str, largest: str) -> dict[str, Any]:
    """Issue 15's done-when line: each mode at the largest H against warm at the smallest."""
    base = figures.get("warm", {}).get(smallest)
    found: dict[str, Any] = {}
    for mode, limit in TARGETS.items():
        figure = figures.get(mode, {}).get(largest)
        if not base or not figure:
            continue
        wall = figure["ms_per_step"] / base["ms_per_step"]
        cpu = figure["cpu_ms_per_step"] / base["cpu_ms_per_step"]
        found[f"{mode} at H={largest} vs warm at H={smallest}"] = {
            "limit": limit,
            "wall": round(wall, 2),
            "cpu": round(cpu, 2),
            "met": wall <= limit and cpu <= limit,
        }
    return found


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worlds", default="memory,aws")  # aws: moto in this process
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
        base_key, top_key = str(min(histories)), str(max(histories))
        baseline = figures.get("warm", {}).get(base_key, {})
        base, cpu_base = baseline.get("ms_per_step"), baseline.get("cpu_ms_per_step")
        if base and cpu_base:
            for by_history in figures.values():
                for figure in by_history.values():
                    figure["vs_warm_at_smallest"] = round(figure["ms_per_step"] / base, 2)
                    figure["cpu_vs_warm_at_smallest"] = round(
                        figure["cpu_ms_per_step"] / cpu_base, 2
                    )
        report["worlds"][world] = {
            "baseline": f"warm at H={base_key}",
            "targets": targets(figures, base_key, top_key),
            **figures,
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
