"""Hand-offs per second of one lock key: N runs queue behind a holder, the holder lets go,
and the clock runs until the last run finished its critical section (one inline step).

    python -m bench.lock_handoff [--world memory|aws] [--runs 20]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from local_emulator import Emulator
from runtime import resume_hook, start
from tests.engine import lock_workflows as fw


async def measure(world: str, runs: int) -> float:
    async with Emulator(modules=["tests.engine.lock_workflows"], world=world) as emu:
        gate = await start(fw.hold_until_told, "bench", 600)
        while not any(e["type"] == "lock_acquired" for e in await gate.events()):
            await asyncio.sleep(0.01)
        waiting = [await start(fw.contend, f"b{i}", 0.0) for i in range(runs)]
        for run in waiting:
            while not any(e["type"] == "lock_requested" for e in await run.events()):
                await asyncio.sleep(0.01)
        began = time.perf_counter()
        await resume_hook("release:bench", None)
        for run in waiting:
            await run.result(timeout=120)
        elapsed = time.perf_counter() - began
        assert not emu.errors, emu.errors
    return runs / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--world", default="memory", choices=["memory", "aws"])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    rate = asyncio.run(measure(args.world, args.runs))
    print(f"{args.world}: {rate:.1f} hand-offs/s ({1000 / rate:.0f} ms each), {args.runs} runs")


if __name__ == "__main__":
    main()
