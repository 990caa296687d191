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
- `first_invocation_calls`: the AWS calls the first invocation made, by kind.

`--baseline PATH` measures another checkout (e.g. the main branch) the same way, processes
alternating between the two trees, so a before/after comparison comes from one run. Medians.

    .venv/bin/python -m bench.cold_start_aws [--processes 7] [--baseline /path/to/checkout]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
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
CHILD = r"""
import json, os, time
t0 = time.perf_counter()
import adapters.lambda_handler as lh
t1 = time.perf_counter()
first, second = json.loads(os.environ["COLD_START_EVENTS"])
answer = lh.handler(first, None)
t2 = time.perf_counter()
assert answer == {"batchItemFailures": []}, answer
calls = dict(lh.get_host().world.calls)
t3 = time.perf_counter()
answer = lh.handler(second, None)
t4 = time.perf_counter()
assert answer == {"batchItemFailures": []}, answer
ms = lambda seconds: round(1000 * seconds, 3)
print("COLD_START_AWS " + json.dumps({
    "import_ms": ms(t1 - t0),
    "first_invocation_ms": ms(t2 - t1),
    "cold_start_ms": ms(t2 - t0),
    "warm_invocation_ms": ms(t4 - t3),
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


def medians(samples: list[dict[str, Any]]) -> dict[str, Any]:
    keys = [k for k in samples[0] if k.endswith("_ms")]
    return {
        "median": {k: round(statistics.median(s[k] for s in samples), 1) for k in keys},
        "min": {k: round(min(s[k] for s in samples), 1) for k in keys},
        "first_invocation_calls": samples[0]["first_invocation_calls"],
    }


async def measure(processes: int, trees: dict[str, Path]) -> dict[str, Any]:
    from adapters.aws import AwsWorld
    from local_emulator.aws.stack import create_storage_stack_at
    from runtime import set_world

    server, url = start_moto_server()
    try:
        config = create_storage_stack_at(url, PREFIX, prefix=PREFIX)
        world = AwsWorld(config)
        set_world(world)
        samples: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
        for _ in range(processes):
            for name, tree in trees.items():  # alternating: a slow spell hits both
                events = await two_messages(world)
                env = function_environment(config, url, tree)
                samples[name].append(await asyncio.to_thread(child, env, events))
        await world.close()
        return {name: medians(found) for name, found in samples.items()}
    finally:
        server.kill()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--processes", type=int, default=7)
    parser.add_argument("--baseline", type=Path, default=None)
    options = parser.parse_args()
    trees = {"this_tree": ROOT}
    if options.baseline is not None:
        trees = {"baseline": options.baseline.resolve(), **trees}
    report: dict[str, Any] = {
        "world": "aws (moto server)",
        "processes": options.processes,
        "trees": {name: str(path) for name, path in trees.items()},
        **asyncio.run(measure(options.processes, trees)),
    }
    if "baseline" in report:
        before = report["baseline"]["median"]["cold_start_ms"]
        report["cold_start_after_vs_before"] = round(
            report["this_tree"]["median"]["cold_start_ms"] / before, 2
        )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
