"""Lambda-path cold start on the AWS World (a moto server): import + first invocation.

A moto server (`steplane.local_emulator.aws.moto_server`) and the deployment's storage stack
are made once; for each of `--processes` fresh interpreters this process starts two runs of
`tiny` (one inline step) and receives their SQS messages, then the child, configured as the
template configures the function (`STEPLANE_WORLD=aws`, the resources' names in the
environment, `AWS_ENDPOINT_URL` at the moto server), times:

- `import_ms`: `import adapters.lambda_handler`;
- `first_invocation_ms`: `handler(sqs_event)` for the first run's message: the engine's lazy
  imports, the AWS World and its clients, the run's data key from KMS, the log read, the inline
  step and the append: everything a cold Lambda instance does for its first message;
- `cold_start_ms` = the two; `warm_invocation_ms`: the second run's message;
- `first_invocation_calls`: the AWS calls the first invocation made, by kind;
- `*_cpu_ms`: the same spans in CPU time of the child (`time.process_time`), which the load of
  other processes changes far less than wall time;
- `median_breakdown`: the first invocation by phase (see CHILD) and AWS call.

`--baseline PATH` measures another checkout (e.g. the main branch) the same way, processes
alternating between the two trees, so a before/after comparison comes from one run. Medians.
`--bytecode cached` (default): every module loads from bytecode, in a cache per tree that one
unmeasured process fills (what a zip with .pyc files gives); `--bytecode source`: the tree's own
modules are compiled on every import (a zip without them: Lambda's /var/task is read-only).

    .venv/bin/python -m bench.cold_start_aws [--processes 7] [--baseline PATH] [--bytecode source]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .moto_process import start_moto_server

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "coldbench"
RESULT_PREFIX = "COLD_START_AWS "
EVENTS_VARIABLE = "COLD_START_EVENTS"

# Runs in a fresh interpreter: only the standard library before the handler module is timed.
# The breakdown wraps the process's AwsClients once the host exists (instance attributes, so
# both trees measure alike): time making clients, and time in each AWS call by operation
# ("get_item:runs", summed: concurrent calls overlap; a client made inside a call counts in
# both), `engine_ms` the rest of the first invocation: steplane's own work and imports.
# `host_ms` is the first `get_host`: imports, the World, and the clients where the handler makes
# them there (`prepare_clients`, then not in `client_setup_ms`).
CHILD = r"""
import json, os, threading, time
perf, cpu = time.perf_counter, time.process_time
t0, c0 = perf(), cpu()
import adapters.lambda_handler as lh
t1, c1 = perf(), cpu()
first, second = json.loads(os.environ["COLD_START_EVENTS"])
phases = {"host_ms": 0.0, "client_setup_ms": 0.0, "client_setup_on_loop_ms": 0.0}
phases["aws_calls_ms"] = {}
order = []
real_get_host = lh.get_host

def timed_get_host(*args, **kwargs):
    if "host" in phases:
        return real_get_host(*args, **kwargs)
    started = perf()
    host = real_get_host(*args, **kwargs)
    phases["host"] = host
    phases["host_ms"] = 1000 * (perf() - started)
    aws = host.world.aws
    real_client, real_call = aws.client, aws.call

    def client(service):
        started = perf()
        try:
            return real_client(service)
        finally:
            spent = 1000 * (perf() - started)
            phases["client_setup_ms"] += spent
            if not threading.current_thread().name.startswith("steplane-aws"):
                phases["client_setup_on_loop_ms"] += spent

    async def call(fn, *args, **kwargs):
        name = getattr(fn, "__name__", "call")
        table = kwargs.get("TableName")
        if isinstance(table, str):
            name += ":" + table.rsplit("-", 1)[-1]
        started = perf()
        try:
            return await real_call(fn, *args, **kwargs)
        finally:
            spent = phases["aws_calls_ms"]
            spent[name] = spent.get(name, 0.0) + 1000 * (perf() - started)
            order.append(name)

    aws.client, aws.call = client, call
    return host

lh.get_host = timed_get_host
answer = lh.handler(first, None)
t2, c2 = perf(), cpu()
assert answer == {"batchItemFailures": []}, answer
calls = dict(lh.get_host().world.calls)
first_phases, first_order = {**phases, "aws_calls_ms": dict(phases["aws_calls_ms"])}, list(order)
t3, c3 = perf(), cpu()
answer = lh.handler(second, None)
t4, c4 = perf(), cpu()
assert answer == {"batchItemFailures": []}, answer
ms = lambda seconds: round(1000 * seconds, 3)
phases, order = first_phases, first_order
aws_ms = sum(phases["aws_calls_ms"].values())
print("COLD_START_AWS " + json.dumps({
    "import_ms": ms(t1 - t0),
    "first_invocation_ms": ms(t2 - t1),
    "cold_start_ms": ms(t2 - t0),
    "warm_invocation_ms": ms(t4 - t3),
    "import_cpu_ms": ms(c1 - c0),
    "first_invocation_cpu_ms": ms(c2 - c1),
    "cold_start_cpu_ms": ms(c2 - c0),
    "warm_invocation_cpu_ms": ms(c4 - c3),
    "breakdown": {
        "host_ms": round(phases["host_ms"], 3),
        "client_setup_ms": round(phases["client_setup_ms"], 3),
        "aws_calls_ms": round(aws_ms, 3),
        "engine_ms": round(
            1000 * (t2 - t1) - phases["host_ms"] - phases["client_setup_on_loop_ms"] - aws_ms, 3
        ),
        "by_call_ms": {k: round(v, 3) for k, v in phases["aws_calls_ms"].items()},
    },
    "call_order": order,
    "first_invocation_calls": calls,
}), flush=True)
"""


def function_environment(config: Any, url: str, tree: Path) -> dict[str, str]:
    """What the infra template gives the function, pointed at the moto server."""
    from adapters.aws.config import NAME_VARIABLES, NUMBER_VARIABLES, PREFIX_VARIABLE

    env = {k: v for k, v in os.environ.items() if not k.startswith(("STEPLANE_", "AWS_"))}
    env.update(
        STEPLANE_WORLD="aws",
        STEPLANE_MODULES="bench.bench_workflows",
        AWS_LAMBDA_FUNCTION_NAME="steplane-bench",
        AWS_ENDPOINT_URL=url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION="us-east-1",
        PYTHONPATH=str(tree),
    )
    env[PREFIX_VARIABLE] = config.prefix
    env.update({variable: getattr(config, name) for name, variable in NAME_VARIABLES.items()})
    env.update({v: str(getattr(config, name)) for name, v in NUMBER_VARIABLES.items()})
    return env


async def two_messages(world: Any) -> list[dict[str, Any]]:
    """Two runs of `tiny` started, their messages taken off the queue as SQS events."""
    from bench.bench_workflows import tiny
    from runtime import start

    events = []
    for i in range(2):
        await start(tiny, i)
        [delivery] = await world.queue.receive(max_messages=1, visibility_timeout=3600)
        events.append(sqs_event(delivery))
    return events


def sqs_event(delivery: Any) -> dict[str, Any]:
    """The delivery as Lambda's SQS event source mapping hands it to the function."""
    body = json.dumps(delivery.body)
    now_ms = str(int(time.time() * 1000))
    record = {
        "messageId": delivery.message_id,
        "receiptHandle": delivery.receipt,
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(delivery.receive_count),
            "SentTimestamp": now_ms,
            "ApproximateFirstReceiveTimestamp": now_ms,
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:coldbench-work",
        "awsRegion": "us-east-1",
    }
    return {"Records": [record]}


def child(env: dict[str, str], events: list[dict[str, Any]]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD],
        cwd=env["PYTHONPATH"],
        env={**env, EVENTS_VARIABLE: json.dumps(events)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"cold-start process failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(lines[-1][len(RESULT_PREFIX) :])


def fill_bytecode_cache(env: dict[str, str], events: list[dict[str, Any]], bytecode: str) -> None:
    """One unmeasured process writes the bytecode of every module it imports to the tree's own
    cache (`PYTHONPYCACHEPREFIX`). "cached": it stays (a zip that ships .pyc files, a checkout
    that has run once). "source": the tree's own part is deleted again, so steplane's modules
    are compiled on every import and the standard library and site-packages are not: a Lambda
    zip without .pyc files (/var/task is read-only), where the runtime's own have theirs."""
    child({k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}, events)
    if bytecode == "source":
        cached_tree = Path(env["PYTHONPYCACHEPREFIX"]) / env["PYTHONPATH"].lstrip(os.sep)
        venv = Path(sys.prefix).resolve()
        for entry in cached_tree.iterdir():  # a virtualenv inside the tree keeps its bytecode
            real = Path(env["PYTHONPATH"]) / entry.name
            if not venv.is_relative_to(real.resolve()):
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def medians(samples: list[dict[str, Any]]) -> dict[str, Any]:
    keys = [k for k in samples[0] if k.endswith("_ms")]
    phases = [k for k, v in samples[0]["breakdown"].items() if isinstance(v, float | int)]
    calls = sorted({name for s in samples for name in s["breakdown"]["by_call_ms"]})

    def median(values: Any) -> float:
        return round(statistics.median(values), 1)

    return {
        "median": {k: median(s[k] for s in samples) for k in keys},
        "min": {k: round(min(s[k] for s in samples), 1) for k in keys},
        "median_breakdown": {
            **{k: median(s["breakdown"][k] for s in samples) for k in phases},
            "by_call_ms": {
                name: median(s["breakdown"]["by_call_ms"].get(name, 0.0) for s in samples)
                for name in calls
            },
        },
        "call_order": samples[0]["call_order"],
        "first_invocation_calls": samples[0]["first_invocation_calls"],
    }


async def measure(processes: int, trees: dict[str, Path], bytecode: str) -> dict[str, Any]:
    import tempfile

    from adapters.aws import AwsWorld
    from local_emulator.aws.stack import create_storage_stack_at
    from runtime import set_world

    server, url = start_moto_server()
    try:
        config = create_storage_stack_at(url, PREFIX, prefix=PREFIX)
        world = AwsWorld(config)
        set_world(world)
        samples: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
        with tempfile.TemporaryDirectory(prefix="cold-start-pyc-") as caches:
            envs = {
                name: {
                    **function_environment(config, url, tree),
                    "PYTHONPYCACHEPREFIX": str(Path(caches) / name),
                    "PYTHONDONTWRITEBYTECODE": "1",  # measured children leave the cache as is
                }
                for name, tree in trees.items()
            }
            for env in envs.values():
                events = await two_messages(world)
                await asyncio.to_thread(fill_bytecode_cache, env, events, bytecode)
            for _ in range(processes):
                for name in trees:  # alternating: a slow spell hits both
                    events = await two_messages(world)
                    samples[name].append(await asyncio.to_thread(child, envs[name], events))
        await world.close()
        return {name: medians(found) for name, found in samples.items()}
    finally:
        server.kill()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--processes", type=int, default=7)
    parser.add_argument("--baseline", type=Path, default=None)
    parser.add_argument("--bytecode", choices=("cached", "source"), default="cached")
    options = parser.parse_args()
    trees = {"this_tree": ROOT}
    if options.baseline is not None:
        trees = {"baseline": options.baseline.resolve(), **trees}
    report: dict[str, Any] = {
        "world": "aws (moto server)",
        "processes": options.processes,
        "bytecode": options.bytecode,
        "trees": {name: str(path) for name, path in trees.items()},
        **asyncio.run(measure(options.processes, trees, options.bytecode)),
    }
    if "baseline" in report:
        before = report["baseline"]["median"]["cold_start_ms"]
        report["cold_start_after_vs_before"] = round(
            report["this_tree"]["median"]["cold_start_ms"] / before, 2
        )
        before_cpu = report["baseline"]["median"]["cold_start_cpu_ms"]
        report["cold_start_cpu_after_vs_before"] = round(
            report["this_tree"]["median"]["cold_start_cpu_ms"] / before_cpu, 2
        )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
