"""RSS of a long-running emulator host (what `steplane dev` runs) over many 5-step runs.

For each World (memory, and the embedded moto World of `Emulator(world="aws")`) one emulator
serves `--runs` runs of `sequential(5)`, `--batch` started at a time, each awaited; every
`--every` runs it records the process's RSS (VmRSS) and the sizes of steplane's own per-run
structures (warm instances, run metadata, data keys, run locks, the AWS log cache, the
emulator's invocation counters), then `trim`s moto's deleted-message records as `steplane dev`
does every minute. A second, shorter pass (`--trace-runs`) runs under tracemalloc and reports
what the runs after a warm-up left allocated, by module, split into moto's own storage (a
World's data, like the memory World's dicts: it grows with the runs kept, by design) and
steplane's code; `steplane_bytes_per_run` is the number that must stay near 0 once the caches
are full (the budget: docs/architecture.md, "Memory of a long-running host").

With `--retain-runs N` the emulator keeps only the N newest ended runs' data (retention,
runtime/engine/retention.py: what `steplane dev` does, 1,000 by default there) and each
sample also says how many runs the World still lists and how many were purged; the RSS
series then levels off once N runs are kept. `--retain-every` is the sweep's period.

    .venv/bin/python -m bench.rss_bench [--runs 2000] [--every 250] [--trace-runs 400]
    .venv/bin/python -m bench.rss_bench --worlds aws --retain-runs 500 --trace-runs 0
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import tracemalloc
from pathlib import Path
from typing import Any

from local_emulator import Emulator
from runtime import start

from .bench_workflows import sequential

ROOT = Path(__file__).resolve().parent.parent
STEPS = 5


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def steplane_structures(emu: Emulator) -> dict[str, int]:
    """Entries of steplane's per-run structures in this host (each must stay bounded)."""
    host = emu.host
    sizes = {
        "warm_instances": len(host._instances),
        "run_metadata": len(host._metadata),
        "run_locks": len(host._locks),
        "data_keys": len(host.codecs._codecs),
        "invocation_counters": len(emu.invocation_counts),
    }
    log = getattr(emu.world, "log", None)
    cache = getattr(log, "_cache", None)
    if cache is not None:
        sizes["log_cache_runs"] = len(cache._logs)
        sizes["log_cache_bytes"] = cache._bytes
    return sizes


def trim(emu: Emulator) -> None:
    if emu.world_kind == "aws":
        from local_emulator.aws.embedded import trim as trim_moto

        trim_moto(emu.world)  # type: ignore[arg-type]


async def listed_runs(emu: Emulator) -> int:
    """Runs the World still lists (what retention has not purged)."""
    count, cursor = 0, None
    while True:
        page = await emu.world.runs.list(limit=1000, cursor=cursor)
        count += len(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return count


async def sample(emu: Emulator, done: int) -> dict[str, Any]:
    trim(emu)
    entry: dict[str, Any] = {"runs": done, "rss_mb": rss_mb(), **steplane_structures(emu)}
    if emu.retain_runs is not None:
        entry["runs_listed"] = await listed_runs(emu)
        entry["purged"] = emu.purged
    return entry


async def serve(emu: Emulator, runs: int, batch: int, every: int, report: list[Any]) -> None:
    done = 0
    while done < runs:
        started = [await start(sequential, STEPS) for _ in range(min(batch, runs - done))]
        for run in started:
            assert await run.result(timeout=60) == STEPS
        done += len(started)
        if done % every == 0:
            report.append(await sample(emu, done))


def owner(filename: str) -> str:
    """moto, botocore, steplane (this tree) or another package, from a frame's file."""
    path = Path(filename)
    if not path.is_absolute():
        return "python"  # <frozen ...>, <string>
    parts = path.parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].split(".")[0]
    try:
        relative = path.resolve().relative_to(ROOT)
    except ValueError:
        return "python"
    return f"steplane/{relative.parts[0]}" if len(relative.parts) > 1 else "steplane"


async def traced(world: str, runs: int, batch: int, retention: dict[str, Any]) -> dict[str, Any]:
    """What `runs` runs after a warm-up leave allocated, by owner of the allocating frame
    (the innermost frame in moto or steplane when the stack has one)."""
    async with Emulator(world=world, **retention) as emu:
        await serve(emu, min(runs, 300), batch, 10**9, [])  # fill the caches first
        tracemalloc.start(12)
        before = tracemalloc.take_snapshot()
        await serve(emu, runs, batch, 10**9, [])
        trim(emu)
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
    grown: dict[str, int] = {}
    sites: dict[str, int] = {}
    for stat in after.compare_to(before, "traceback"):
        frames = list(reversed(stat.traceback))  # innermost first
        names = [owner(frame.filename) for frame in frames]
        # Attribute to the innermost steplane or moto frame (the code that keeps it).
        index = next((i for i, f in enumerate(names) if f.startswith(("steplane", "moto"))), 0)
        grown[names[index]] = grown.get(names[index], 0) + stat.size_diff
        if names[index].startswith("steplane"):
            frame = frames[index]
            site = f"{Path(frame.filename).relative_to(ROOT)}:{frame.lineno}"
            sites[site] = sites.get(site, 0) + stat.size_diff
    top = dict(sorted(grown.items(), key=lambda item: -item[1])[:12])
    steplane = sum(size for name, size in grown.items() if name.startswith("steplane"))
    return {
        "runs": runs,
        "retained_bytes_by_owner": top,
        "steplane_sites_bytes": dict(sorted(sites.items(), key=lambda item: -item[1])[:10]),
        "steplane_bytes_per_run": round(steplane / runs),
        "moto_bytes_per_run": round(grown.get("moto", 0) / runs),
    }


async def measure(
    world: str, runs: int, batch: int, every: int, trace_runs: int, retention: dict[str, Any]
) -> Any:
    samples: list[Any] = [{"runs": 0, "rss_mb": rss_mb()}]
    began, cpu = time.perf_counter(), time.process_time()
    async with Emulator(world=world, **retention) as emu:
        samples[0].update(steplane_structures(emu))
        await serve(emu, runs, batch, every, samples)
    result: dict[str, Any] = {
        "rss": samples,
        "seconds": round(time.perf_counter() - began, 1),
        "cpu_seconds": round(time.process_time() - cpu, 1),
        "rss_growth_mb_last_half": round(
            samples[-1]["rss_mb"] - samples[len(samples) // 2]["rss_mb"], 1
        ),
        # Once retention has reached its N runs, what is left: the slope at the end.
        "rss_growth_mb_last_quarter": round(
            samples[-1]["rss_mb"] - samples[(3 * len(samples)) // 4]["rss_mb"], 1
        ),
    }
    if trace_runs:
        result["tracemalloc"] = await traced(world, trace_runs, batch, retention)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--every", type=int, default=250)
    parser.add_argument("--batch", type=int, default=25)
    parser.add_argument("--trace-runs", type=int, default=400)
    parser.add_argument("--worlds", default="memory,aws")
    parser.add_argument(
        "--retain-runs", type=int, default=0, help="keep only N ended runs (0: keep all)"
    )
    parser.add_argument("--retain-every", type=float, default=5.0, help="sweep period, s")
    options = parser.parse_args()
    retention: dict[str, Any] = {}
    if options.retain_runs:
        retention = {"retain_runs": options.retain_runs, "retain_every": options.retain_every}
    report: dict[str, Any] = {"steps_per_run": STEPS, "runs": options.runs, **retention}
    for world in options.worlds.split(","):
        report[world] = asyncio.run(
            measure(
                world, options.runs, options.batch, options.every, options.trace_runs, retention
            )
        )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
