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

Each figure is measured in its own Emulator, with a freshly built history. Two Emulators
measuring the same thing in one process can differ by half on moto (warm at H=50: 6.9 ms in
one, 9.9 ms in another, the calls made identical), which is as much as issue 15's limits; so
the figures are measured in `--rounds` rounds, each round measuring every (H, mode) once in
an order shifted from the last round's, and every ratio is taken inside its round (to warm at
the smallest H of that round) before the median over rounds is reported: a slow stretch of
the machine lands on both sides of a ratio, or on one round of several.

Prints JSON: for each World, `H` and mode the median over rounds of the median ms per
measured step (wall, and `cpu_ms_per_step`, this process's CPU time, moto included as it
runs in-process: steadier on a shared machine), each figure's ratio to warm at the smallest
`H` (the median of the rounds' ratios), every round's figures, and `targets`: issue 15's
done-when line (cold at the largest H within 2x of warm at the smallest, cold process within
3x), met or not, on wall and CPU time, with the ratio of each round.

    .venv/bin/python -m bench.history_bench [--worlds memory,aws] [--histories 50,2000,5000]
        [--steps 9] [--rounds 3] [--modes warm,cold,cold_process,cold_replay,cold_process_replay]
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


ROUND_FIGURES = ("ms_per_step", "cpu_ms_per_step", "vs_warm_at_smallest", "cpu_vs_warm_at_smallest")
RATIOS = (("vs_warm_at_smallest", "ms_per_step"), ("cpu_vs_warm_at_smallest", "cpu_ms_per_step"))


def shifted(items: list[Any], round_index: int, rounds: int) -> list[Any]:
    """`items` rotated by a `round_index`-th share of their length: over the rounds, each
    is measured early in one round and late in another."""
    shift = round_index * len(items) // max(rounds, 1)
    return items[shift:] + items[:shift]


def with_ratios(figures: dict[str, dict[str, Any]], base_key: str) -> None:
    """Each figure of one round with its ratios to warm at the smallest H of that round."""
    base = figures.get("warm", {}).get(base_key)
    if not base or not base["ms_per_step"] or not base["cpu_ms_per_step"]:
        return
    for by_history in figures.values():
        for figure in by_history.values():
            for ratio, measure in RATIOS:
                figure[ratio] = round(figure[measure] / base[measure], 2)


def over_rounds(rounds: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per mode and H: the median over rounds of every number, and each round's figure."""
    merged: dict[str, dict[str, Any]] = {}
    for mode, by_history in rounds[0].items():
        for key in by_history:
            each = [r[mode][key] for r in rounds]
            figure = {name: middle([f.get(name) for f in each]) for name in each[0]}
            if len(each) > 1:  # the figures each ratio above is the median of
                figure["rounds"] = [{m: f.get(m) for m in ROUND_FIGURES} for f in each]
            merged.setdefault(mode, {})[key] = figure
    return merged


def middle(values: list[Any]) -> int | float | None:
    """The median of one number over the rounds (None where no round has it); counts stay
    whole where the median is."""
    numbers = [v for v in values if isinstance(v, int | float)]
    if not numbers:
        return None
    found = statistics.median(numbers)
    whole = all(isinstance(v, int) for v in numbers) and found == int(found)
    return int(found) if whole else round(found, 3)


def targets(figures: dict[str, dict[str, Any]], smallest: str, largest: str) -> dict[str, Any]:
    """Issue 15's done-when line: each mode at the largest H against warm at the smallest,
    as the median of the rounds' own ratios."""
    found: dict[str, Any] = {}
    for mode, limit in TARGETS.items():
        figure = figures.get(mode, {}).get(largest)
        if not figure or "vs_warm_at_smallest" not in figure:
            continue
        wall, cpu = figure["vs_warm_at_smallest"], figure["cpu_vs_warm_at_smallest"]
        found[f"{mode} at H={largest} vs warm at H={smallest}"] = {
            "limit": limit,
            "wall": wall,
            "cpu": cpu,
            "met": wall <= limit and cpu <= limit,
            "cpu_by_round": [r["cpu_vs_warm_at_smallest"] for r in figure.get("rounds", [])],
        }
    return found


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worlds", default="memory,aws")  # aws: moto in this process
    parser.add_argument("--histories", default="50,2000,5000")
    parser.add_argument("--steps", type=int, default=9, help="measured invocations per figure")
    parser.add_argument("--rounds", type=int, default=3, help="every figure measured this often")
    parser.add_argument("--modes", default=",".join(MODES))
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    histories = [int(h) for h in args.histories.split(",")]
    modes = args.modes.split(",")
    base_key, top_key = str(min(histories)), str(max(histories))
    report: dict[str, Any] = {"steps_measured": args.steps, "rounds": args.rounds, "worlds": {}}
    for world in args.worlds.split(","):
        rounds: list[dict[str, dict[str, Any]]] = []
        for index in range(args.rounds):
            figures: dict[str, dict[str, Any]] = {m: {} for m in modes}
            for history, mode in shifted(
                list(itertools.product(histories, modes)), index, args.rounds
            ):
                figures[mode][str(history)] = await measure(world, history, args.steps, mode)
            with_ratios(figures, base_key)
            rounds.append(
                {m: dict(sorted(f.items(), key=lambda kv: int(kv[0]))) for m, f in figures.items()}
            )
        merged = over_rounds(rounds)
        report["worlds"][world] = {
            "baseline": f"warm at H={base_key}",
            "targets": targets(merged, base_key, top_key),
            **merged,
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
