"""Fan-out liveness trials: does every wide fan-out finish, on every World, every time?

A trial is one fresh `Emulator` running `fan_out(n)` (n parallel steps through the queue) with a
deadline; a run that has not finished by then counts as hung (docs/invariants.md #8: no run is
left silently unfinished). Prints JSON per World: trials, completed, hung, failed and the
seconds of each trial. Exits 1 if any trial did not complete.

    .venv/bin/python -m bench.fanout_trials [--worlds memory,aws] [--steps 400,1000]
        [--trials 20] [--timeout 300] [--virtual-time]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from local_emulator import Emulator
from runtime import start

from .bench_workflows import fan_out


async def trial(world: str, steps: int, timeout: float, virtual_time: bool) -> tuple[str, float]:
    """One fan-out on a fresh Emulator: ("completed" | "hung" | "failed: ...", seconds)."""
    began = time.perf_counter()
    async with Emulator(world=world, virtual_time=virtual_time) as emu:
        del emu
        run = await start(fan_out, steps)
        try:
            result = await asyncio.wait_for(run.result(), timeout)
        except TimeoutError:
            outcome = "hung"
        except Exception as error:
            outcome = f"failed: {type(error).__name__}: {error}"
        else:
            outcome = "completed" if result == steps else f"failed: result {result!r}"
    return outcome, round(time.perf_counter() - began, 3)


async def trials(
    world: str, steps: int, count: int, timeout: float, virtual_time: bool
) -> dict[str, Any]:
    outcomes: list[str] = []
    seconds: list[float] = []
    for _ in range(count):
        outcome, took = await trial(world, steps, timeout, virtual_time)
        outcomes.append(outcome)
        seconds.append(took)
        print(f"{world} {steps}: trial {len(outcomes)} {outcome} in {took} s", file=sys.stderr)
    failures = sorted({o for o in outcomes if o.startswith("failed")})
    return {
        "world": world,
        "steps": steps,
        "trials": count,
        "completed": outcomes.count("completed"),
        "hung": outcomes.count("hung"),
        "failed": len([o for o in outcomes if o.startswith("failed")]),
        "failures": failures,
        "seconds": seconds,
    }


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worlds", default="memory,aws")
    parser.add_argument("--steps", default="400,1000", help="fan-out widths, comma-separated")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds before 'hung'")
    parser.add_argument("--virtual-time", action="store_true")
    options = parser.parse_args()
    report = []
    for world in options.worlds.split(","):
        for steps in (int(s) for s in options.steps.split(",")):
            result = await trials(
                world, steps, options.trials, options.timeout, options.virtual_time
            )
            report.append(result)
            print(json.dumps(result), flush=True)
    return 0 if all(r["completed"] == r["trials"] for r in report) else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
