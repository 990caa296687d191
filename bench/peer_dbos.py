"""The DBOS + SQLite half of `bench.peer_bench`: one measurement round, printed as one JSON line.

Run by `bench.peer_bench` with the interpreter of `bench/.peer-venv`, which has `dbos` and not
steplane, so DBOS never becomes a dependency of the project. It is the same workload as the steplane
half, written the same way (async workflow, async no-op steps, start -> result timed from the
caller): N sequential steps, and `--zero-runs` runs of a workflow with no step. The SQLite system
database lives by default on tmpfs (`/dev/shm`) where there is one, because the steplane Worlds it
is compared with keep their state in memory: the comparison is of the engines, not of this
machine's disk (on the shared disk, fsyncs made DBOS 5x slower and very noisy). `--sqlite-dir`
puts it elsewhere; `sqlite_dir` in the output says where it was.

    bench/.peer-venv/bin/python bench/peer_dbos.py --steps 200 --zero-runs 20 [--sqlite-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Coroutine
from importlib.metadata import version
from pathlib import Path
from typing import Any

from dbos import DBOS

TMPFS = Path("/dev/shm")


@DBOS.step()
async def noop(i: int) -> int:
    return i


@DBOS.workflow()
async def sequential(n: int) -> int:
    for i in range(n):
        await noop(i)
    return n


@DBOS.workflow()
async def zero_steps() -> int:
    return 0


async def timed(workflow_fn: Callable[..., Coroutine[Any, Any, int]], *args: int) -> float:
    """Seconds from start to result of one run."""
    began = time.perf_counter()
    handle = await DBOS.start_workflow_async(workflow_fn, *args)
    await handle.get_result()
    return time.perf_counter() - began


async def measure(steps: int, zero_runs: int) -> dict[str, float]:
    await timed(sequential, 5)  # warm-up: first-call costs are not what is compared
    await timed(zero_steps)
    per_step = await timed(sequential, steps) / steps
    zero = statistics.median([await timed(zero_steps) for _ in range(zero_runs)])
    return {"per_step_ms": round(1000 * per_step, 3), "zero_step_latency_ms": round(1000 * zero, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--zero-runs", type=int, default=20)
    parser.add_argument("--sqlite-dir", default=None)
    options = parser.parse_args()
    sqlite_dir = options.sqlite_dir or (str(TMPFS) if TMPFS.is_dir() else tempfile.gettempdir())
    with tempfile.TemporaryDirectory(dir=sqlite_dir) as directory:
        DBOS(
            config={
                "name": "steplane-peer-bench",
                "system_database_url": f"sqlite:///{directory}/dbos.sqlite",
                "log_level": "WARNING",
            }
        )
        DBOS.launch()
        try:
            report: dict[str, Any] = asyncio.run(measure(options.steps, options.zero_runs))
        finally:
            DBOS.destroy()
    report |= {"dbos_version": version("dbos"), "sqlite_dir": sqlite_dir}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
