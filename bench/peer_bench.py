"""Peer benchmark: steplane on the memory World and on the embedded moto World vs DBOS + SQLite.

Issue 15 sets its targets as ratios to DBOS + SQLite measured in the same run (moto per inline
step within 1.5x, memory at or below 0.2x, a 0-step run's start -> result latency on moto within
3x), because absolute times on a shared machine say little. Two measures, no-op steps, each
timed from `start` to the result:

- `per_step`: one run of `--steps` sequential steps (inline: one workflow invocation runs them
  all), divided by the number of steps;
- `zero_step_latency`: the median of `--zero-runs` runs of a workflow with no step;
- `moto_raw_call`: the CPU of one bare DynamoDB call on the embedded moto (a `GetItem` through
  the World's boto3 client, no steplane code), measured in each moto round, and how many such
  calls fit in DBOS's 0-step run and in 3x of it: the floor a run's AWS calls stand on, since
  on the embedded moto every call is this interpreter's CPU.

steplane runs in this interpreter (`Emulator(world="memory")`, `Emulator(world="aws")`); DBOS runs
in a subprocess of its own venv, `bench/.peer-venv` (gitignored), which this benchmark creates on
first use with `python -m venv` and `pip install "dbos>=3,<4"` (the latest 3.x), so DBOS is never
a dependency of the project. `bench/peer_dbos.py` is that side, and says where its SQLite file is.
Each of `--repeats` rounds measures every side once, sides alternating (the order rotates every
round) so machine noise hits all of them; each side warms up inside its round before it is timed
(the steplane Emulator and the DBOS process are new every round). Reported: the medians over the
rounds in ms, every round's figures (`rounds`), and the ratios of the medians.

    .venv/bin/python -m bench.peer_bench [--sides memory,moto,dbos] [--steps 200]
                                         [--zero-runs 20] [--repeats 5] [--dbos-sqlite-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from local_emulator import Emulator
from runtime import start

from .bench_workflows import sequential, zero_steps

BENCH = Path(__file__).resolve().parent
PEER_VENV = BENCH / ".peer-venv"
DBOS_SIDE = BENCH / "peer_dbos.py"
WORLDS = {"memory": "memory", "moto": "aws"}  # side -> Emulator(world=...)
SIDES = (*WORLDS, "dbos")
MEASURES = ("per_step_ms", "zero_step_latency_ms")
RATIOS = {  # name -> (side, side it is compared with, measure)
    "moto_vs_dbos_per_step": ("moto", "dbos", "per_step_ms"),
    "memory_vs_dbos_per_step": ("memory", "dbos", "per_step_ms"),
    "moto_vs_dbos_zero_step_latency": ("moto", "dbos", "zero_step_latency_ms"),
    "memory_vs_dbos_zero_step_latency": ("memory", "dbos", "zero_step_latency_ms"),
}


async def timed(workflow_fn: Any, *args: int) -> float:
    """Seconds from start to result of one run."""
    began = time.perf_counter()
    run = await start(workflow_fn, *args)
    await run.result(timeout=600)
    return time.perf_counter() - began


async def steplane_round(side: str, steps: int, zero_runs: int) -> dict[str, float]:
    async with Emulator(world=WORLDS[side]) as emu:
        await timed(sequential, 5)  # warm-up, as on the DBOS side
        await timed(zero_steps)
        per_step = await timed(sequential, steps) / steps
        zero = statistics.median([await timed(zero_steps) for _ in range(zero_runs)])
        figures = {
            "per_step_ms": round(1000 * per_step, 3),
            "zero_step_latency_ms": round(1000 * zero, 3),
        }
        if side == "moto":
            figures["raw_call_cpu_ms"] = round(1000 * raw_call_cpu(emu.world), 3)
    return figures


def raw_call_cpu(world: Any, calls: int = 200) -> float:
    """CPU seconds of one bare DynamoDB call on this World (a consistent `GetItem` of a run id
    that does not exist, straight through its boto3 client, no steplane code): the floor under
    every call a run makes, which on the embedded moto is this process's CPU too."""
    dynamodb, table = world.aws.dynamodb, world.config.runs_table
    key = {"run_id": {"S": "wrun_no_such_run"}}
    dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True)  # the client is made
    began = time.process_time()
    for _ in range(calls):
        dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True)
    return (time.process_time() - began) / calls


def peer_python() -> Path:
    """The interpreter of `bench/.peer-venv`, created and given `dbos` if it lacks either."""
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
    if subprocess.run([python, "-c", "import dbos"], capture_output=True).returncode != 0:
        pip = [python, "-m", "pip", "install", "--quiet", "dbos>=3,<4"]
        subprocess.run(pip, check=True, stdout=sys.stderr)
    return python


def dbos_round(python: Path, steps: int, zero_runs: int, sqlite_dir: str | None) -> dict[str, Any]:
    command = [str(python), str(DBOS_SIDE), "--steps", str(steps), "--zero-runs", str(zero_runs)]
    if sqlite_dir is not None:
        command += ["--sqlite-dir", sqlite_dir]
    done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=BENCH)
    return json.loads(done.stdout.splitlines()[-1])


async def bench(
    sides: list[str], steps: int, zero_runs: int, repeats: int, dbos_sqlite_dir: str | None
) -> dict[str, Any]:
    python = peer_python() if "dbos" in sides else None
    rounds: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
    dbos_setup: dict[str, Any] = {}
    for repeat in range(repeats):
        for side in sides[repeat % len(sides) :] + sides[: repeat % len(sides)]:
            if side == "dbos":
                assert python is not None
                figures = dbos_round(python, steps, zero_runs, dbos_sqlite_dir)
                dbos_setup = {k: figures.pop(k) for k in ("dbos_version", "sqlite_dir")}
            else:
                figures = await steplane_round(side, steps, zero_runs)
            rounds[side].append(figures)
    medians = {
        side: {m: round(statistics.median(r[m] for r in rounds[side]), 3) for m in MEASURES}
        for side in sides
    }
    report: dict[str, Any] = {
        "steps": steps,
        "zero_runs": zero_runs,
        "repeats": repeats,
        "median_ms": medians,
        "ratios": {
            name: round(medians[side][m] / medians[peer][m], 2)
            for name, (side, peer, m) in RATIOS.items()
            if side in medians and peer in medians
        },
        "rounds": rounds,
    }
    if dbos_setup:
        report["dbos_setup"] = dbos_setup
    raw = [r["raw_call_cpu_ms"] for r in rounds.get("moto", ())]
    if raw and "dbos" in medians:
        # how many bare moto calls fit in DBOS's whole 0-step run, and in 3x of it
        call_ms = statistics.median(raw)
        dbos_zero = medians["dbos"]["zero_step_latency_ms"]
        report["moto_raw_call"] = {
            "cpu_ms": round(call_ms, 3),
            "dbos_zero_step_in_calls": round(dbos_zero / call_ms, 2),
            "calls_in_3x_dbos_zero_step": round(3 * dbos_zero / call_ms, 2),
        }
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sides", default=",".join(SIDES), help=f"any of {', '.join(SIDES)}")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--zero-runs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dbos-sqlite-dir", default=None, help="default: /dev/shm if present")
    options = parser.parse_args(argv)
    sides = options.sides.split(",")
    unknown = set(sides) - set(SIDES)
    if unknown:
        parser.error(f"unknown sides {sorted(unknown)}: use {', '.join(SIDES)}")
    report = asyncio.run(
        bench(sides, options.steps, options.zero_runs, options.repeats, options.dbos_sqlite_dir)
    )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
