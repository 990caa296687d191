"""Handler benchmark: per-step cost in-process vs over HTTP, and the Lambda handler's cold start.

1. Per-step latency of a sequential workflow of no-op steps (inline: one workflow invocation
   runs them all) and of a fan-out (one queued step invocation per step), on the in-memory
   World, with `Emulator(invoke="inprocess")` and `Emulator(invoke="http")` (uvicorn on
   127.0.0.1, signed `POST /invoke`) in the same run. Each shape is measured `--repeat` times
   per mode, modes alternating, after a warm-up run of each; medians are reported. Invocation
   counts are deterministic for the sequential shape (the fan-out's number of workflow
   invocations depends on how step completions interleave); `http_vs_inprocess` (ratio of
   medians), `http_vs_inprocess_min` (of the fastest runs) and `http_overhead_ms_per_invocation`
   are the comparable numbers, absolute milliseconds are not comparable across machines or runs.
2. Lambda cold start, in `--processes` fresh interpreters (`sys.executable -c ...`) with
   `STEPLANE_WORLD=memory`, `STEPLANE_MODULES=bench.bench_workflows` and
   `AWS_LAMBDA_FUNCTION_NAME` set (so the JSON log handler is installed as on Lambda):
   - `import_ms`: `import adapters.lambda_handler` (standard library only, by design);
   - `engine_import_ms`: what the first invocation imports lazily (`runtime`, the memory World,
     the `STEPLANE_MODULES`). The run the SQS message refers to must exist in the process's
     memory World before the handler sees it, and creating it needs the engine, so these
     imports are timed on their own first and not again inside the first invocation;
   - `first_invocation_ms`: `handler(sqs_event)` for one workflow message of `tiny` (one inline
     step; the run completes in this invocation): function host and first code paths (the
     event loop was built by the setup);
   - `cold_start_ms` = the three above; `warm_invocation_ms`: the same for a second run.
   Medians over the processes. `importtime` lists the largest imports of one more process run
   under `python -X importtime` (microseconds; that flag slows imports a little).

    .venv/bin/python -m bench.handlers_bench [--steps 500] [--fanout 200] [--repeat 5]
                                             [--processes 5] [--no-importtime]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from local_emulator import Emulator
from runtime import start

from .bench_workflows import fan_out, sequential

ROOT = Path(__file__).resolve().parent.parent
MODES = ("inprocess", "http")
SHAPES = {"sequential_inline": sequential, "parallel_fan_out": fan_out}
RESULT_PREFIX = "HANDLERS_BENCH "


# --- in-process vs HTTP ----------------------------------------------------------------------


async def run_once(invoke: str, workflow_fn: Any, n: int, concurrency: int) -> dict[str, Any]:
    async with Emulator(world="memory", invoke=invoke, concurrency=concurrency) as emu:
        began = time.perf_counter()
        run = await start(workflow_fn, n)
        result = await run.result(timeout=120)
        elapsed = time.perf_counter() - began
        assert result == n, result
        # The run is complete before the invocation that completed it has answered: let it
        # finish, so that leaving the emulator does not cut an HTTP request short.
        deadline = time.monotonic() + 5
        while emu._in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.001)
        return {
            "seconds": elapsed,
            "workflow_invocations": emu.workflow_invocations(run.run_id),
            "step_invocations": emu.invocation_counts[f"step:{run.run_id}"],
        }


def summary(n: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    seconds = statistics.median(r["seconds"] for r in runs)
    invocations = runs[0]["workflow_invocations"] + runs[0]["step_invocations"]
    return {
        "steps": n,
        "seconds_median": round(seconds, 4),
        "ms_per_step": round(1000 * seconds / n, 3),
        "ms_per_step_min": round(1000 * min(r["seconds"] for r in runs) / n, 3),
        "ms_per_step_runs": [round(1000 * r["seconds"] / n, 3) for r in runs],
        "workflow_invocations": runs[0]["workflow_invocations"],
        "step_invocations": runs[0]["step_invocations"],
        "ms_per_invocation": round(1000 * seconds / invocations, 3),
    }


async def compare(steps: int, fanout: int, repeat: int, concurrency: int) -> dict[str, Any]:
    """Modes alternate run by run, so that a slow spell of a shared machine hits both."""
    report: dict[str, Any] = {"world": "memory", "concurrency": concurrency, "repeat": repeat}
    sizes = {"sequential_inline": steps, "parallel_fan_out": fanout}
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {mode: {} for mode in MODES}
    for shape, fn in SHAPES.items():
        for mode in MODES:  # warm-up: imports, first code paths
            await run_once(mode, fn, min(sizes[shape], 10), concurrency)
        for _ in range(repeat):
            for mode in MODES:
                sample = await run_once(mode, fn, sizes[shape], concurrency)
                runs[mode].setdefault(shape, []).append(sample)
    for mode in MODES:
        report[mode] = {shape: summary(sizes[shape], runs[mode][shape]) for shape in SHAPES}
    report["http_vs_inprocess"] = {
        shape: round(
            report["http"][shape]["ms_per_step"] / report["inprocess"][shape]["ms_per_step"], 2
        )
        for shape in SHAPES
    }
    # Slow spells only ever add time: the ratio of the fastest runs is the steadier one.
    report["http_vs_inprocess_min"] = {
        shape: round(
            report["http"][shape]["ms_per_step_min"]
            / report["inprocess"][shape]["ms_per_step_min"],
            2,
        )
        for shape in SHAPES
    }
    overhead = {}
    for shape in SHAPES:
        http, local = report["http"][shape], report["inprocess"][shape]
        invocations = http["workflow_invocations"] + http["step_invocations"]
        extra_ms = 1000 * (http["seconds_median"] - local["seconds_median"])
        overhead[shape] = round(extra_ms / invocations, 3)
    report["http_overhead_ms_per_invocation"] = overhead
    return report


# --- Lambda cold start -------------------------------------------------------------------------

# Runs in a fresh interpreter. Only `time` is imported before the handler module is timed.
COLD_START = r"""
import time
t0 = time.perf_counter()
import adapters.lambda_handler as lh
t1 = time.perf_counter()
import runtime.config, runtime.errors, runtime.engine.host
import adapters.memory
import bench.bench_workflows as workflows
t2 = time.perf_counter()

import base64, hashlib, json, os, uuid
from runtime import get_run, start
from runtime.config import get_world


def sqs_event(delivery):
    body = json.dumps(delivery.body)
    now_ms = str(int(time.time() * 1000))
    return {"Records": [{
        "messageId": str(uuid.uuid4()),
        "receiptHandle": base64.b64encode(os.urandom(48)).decode(),
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(delivery.receive_count),
            "SentTimestamp": now_ms,
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": now_ms,
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:steplane-work",
        "awsRegion": "us-east-1",
    }]}


async def enqueue(i):
    run = await start(workflows.tiny, i)
    deliveries = await get_world().queue.receive(max_messages=1, visibility_timeout=60)
    assert len(deliveries) == 1, deliveries
    return run.run_id, sqs_event(deliveries[0])


def invoke(i):
    run_id, event = lh._run(enqueue(i))  # on the handler's own loop, as its World needs
    began = time.perf_counter()
    answer = lh.handler(event, None)
    elapsed = time.perf_counter() - began
    assert answer == {"batchItemFailures": []}, answer
    status = lh._run(get_run(run_id).status())
    assert str(status) == "completed", status
    return elapsed


first = invoke(1)
second = invoke(2)
more = [invoke(3 + i) for i in range(5)]
ms = lambda seconds: round(1000 * seconds, 3)
print("HANDLERS_BENCH " + json.dumps({
    "import_ms": ms(t1 - t0),
    "engine_import_ms": ms(t2 - t1),
    "first_invocation_ms": ms(first),
    "cold_start_ms": ms(t2 - t0 + first),
    "warm_invocation_ms": ms(second),
    "warm_invocation_median_of_5_ms": ms(sorted(more)[2]),
}), flush=True)
"""


def cold_start_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEPLANE_")}
    env.update(
        STEPLANE_WORLD="memory",
        STEPLANE_MODULES="bench.bench_workflows",
        STEPLANE_LOG_LEVEL="INFO",
        AWS_LAMBDA_FUNCTION_NAME="steplane-bench",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    )
    env.pop("AWS_LAMBDA_LOG_FORMAT", None)
    return env


def cold_start_process(flags: list[str]) -> tuple[dict[str, Any], str, float]:
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *flags, "-c", COLD_START],
        cwd=ROOT,
        env=cold_start_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"cold-start process failed:\n{done.stdout}\n{done.stderr}")
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    log_lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    result = json.loads(lines[-1][len(RESULT_PREFIX) :])
    result["json_log_lines"] = len(log_lines)
    return result, done.stderr, wall


def importtime_top(stderr: str, top: int) -> dict[str, Any]:
    """The largest imports of a `-X importtime` run: top-level packages by cumulative time,
    and single modules by self time (microseconds)."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        parts = line[len("import time:") :].split("|")
        self_us, cumulative_us, name = int(parts[0]), int(parts[1]), parts[2].rstrip()
        depth = (len(name) - len(name.lstrip())) // 2  # the module itself is indented by 1
        rows.append((name.strip(), self_us, cumulative_us, depth))
    top_level = sorted((r for r in rows if r[3] == 0), key=lambda r: -r[2])[:top]
    by_self = sorted(rows, key=lambda r: -r[1])[:top]
    return {
        "total_cumulative_us": sum(r[2] for r in rows if r[3] == 0),
        "top_level_by_cumulative_us": {name: cum for name, _, cum, _ in top_level},
        "modules_by_self_us": {name: own for name, own, _, _ in by_self},
    }


def cold_start(processes: int, with_importtime: bool) -> dict[str, Any]:
    samples, walls = [], []
    for _ in range(processes):
        result, _, wall = cold_start_process([])
        samples.append(result)
        walls.append(wall)
    keys = [k for k in samples[0] if k.endswith("_ms")]
    report: dict[str, Any] = {
        "processes": processes,
        "median": {k: round(statistics.median(s[k] for s in samples), 3) for k in keys},
        "min": {k: round(min(s[k] for s in samples), 3) for k in keys},
        "process_wall_ms_median": round(1000 * statistics.median(walls), 1),
        "json_log_lines_per_process": samples[0]["json_log_lines"],
        "samples": samples,
    }
    if with_importtime:
        _, stderr, _ = cold_start_process(["-X", "importtime"])
        report["importtime"] = importtime_top(stderr, 10)
    return report


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--fanout", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--processes", type=int, default=5)
    parser.add_argument("--no-importtime", action="store_true")
    options = parser.parse_args()
    began = time.perf_counter()
    report = {
        "per_step": await compare(
            options.steps, options.fanout, options.repeat, options.concurrency
        ),
        "lambda_cold_start": cold_start(options.processes, not options.no_importtime),
    }
    report["bench_seconds"] = round(time.perf_counter() - began, 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
