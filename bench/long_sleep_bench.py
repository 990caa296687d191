"""What a long durable sleep costs while asleep, on the embedded moto World with virtual time.

A run of `steps_around_a_sleep` with and without a `--days`-day sleep: the workflow
invocations the sleep adds (issue 15: at most one, at its end), the timer hops that carried it
past SQS's 15-minute delay limit, and the World calls touching run state (log reads and
appends, run record reads and status changes) made while a host handled a hop (must be 0:
a hop re-sends its timer without loading the run).

    .venv/bin/python -m bench.long_sleep_bench [--days 30] [--world aws]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextvars
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from local_emulator import Emulator
from runtime import start
from runtime.engine.host import FunctionHost
from runtime.world import World

from .bench_workflows import steps_around_a_sleep

_IN_HOP: contextvars.ContextVar[bool] = contextvars.ContextVar("in_hop", default=False)
RUN_STATE_CALLS = ("log.read", "log.append", "runs.get", "runs.update_status")


@contextmanager
def reads_during_hops(world: World) -> Iterator[collections.Counter[str]]:
    """Counts World calls that touch run state: `calls` in all, and by name those made while
    a host handled a timer message."""
    counts: collections.Counter[str] = collections.Counter()
    hop = FunctionHost._hop

    async def hop_marked(self: FunctionHost, timer: Any) -> None:
        token = _IN_HOP.set(True)
        try:
            await hop(self, timer)
        finally:
            _IN_HOP.reset(token)

    def counting(name: str, call: Any) -> Any:
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            counts["calls"] += 1
            if _IN_HOP.get():
                counts[name] += 1
            return await call(*args, **kwargs)

        return wrapper

    saved = []
    for name in RUN_STATE_CALLS:
        store, method = name.split(".")
        target = getattr(world, store)
        saved.append((target, method, getattr(target, method)))
        setattr(target, method, counting(name, getattr(target, method)))
    FunctionHost._hop = hop_marked  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        FunctionHost._hop = hop  # type: ignore[method-assign]
        for target, method, call in saved:
            setattr(target, method, call)


async def measure(days: int, world: str) -> dict[str, Any]:
    async with Emulator(world=world, virtual_time=True, modules=["bench.bench_workflows"]) as emu:
        awake = await start(steps_around_a_sleep, None)
        await awake.result(timeout=60)
        began = time.perf_counter()
        with reads_during_hops(emu.world) as reads:
            asleep = await start(steps_around_a_sleep, f"{days}d")
            await asleep.result(timeout=600)
        seconds = time.perf_counter() - began
        without = emu.workflow_invocations(awake.run_id)
        with_sleep = emu.workflow_invocations(asleep.run_id)
        return {
            "world": world,
            "days": days,
            "workflow_invocations_without_sleep": without,
            "workflow_invocations_with_sleep": with_sleep,
            "invocations_the_sleep_adds": with_sleep - without,
            "timer_hops": emu.invocation_counts[f"timer:{asleep.run_id}"],
            "run_state_reads_during_hops": sum(v for k, v in reads.items() if k != "calls"),
            "run_state_calls_in_all": reads["calls"],
            "seconds": round(seconds, 2),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--world", default="aws", choices=["aws", "memory"])
    options = parser.parse_args()
    print(json.dumps(asyncio.run(measure(options.days, options.world)), indent=2))


if __name__ == "__main__":
    main()
