"""What the emulator itself costs: idle, routing a moto server's requests, rendering items.

`idle`: one `Emulator(world="aws")` (what `steplane dev` runs, on the embedded moto) runs one
workflow, waits until its queue is quiet, then measures the process's CPU (`process_time`
over wall time: a fraction of one core) and its ReceiveMessage calls per second over
`--seconds`; then the same with the queue asking as it did before it slowed when quiet
(every 50 ms; with virtual time on every turn of the idle loop), side by side in this run,
with real time and with virtual time.

`moto_server_call`: the CPU of one bare consistent GetItem against a moto server in this
process (`local_emulator/aws/moto_server.py`, client and server both), with moto's own
per-request listing of its service packages and with the listing made once
(`moto_patches._list_moto_modules_once`), in alternating rounds; medians.

`dynamodb_rendering`: the CPU of a GetItem of a 7-attribute item (nested map and list, a
binary, a set) and of listing 100 runs on the embedded moto, with DynamoDB attribute values
rendered by moto's generic serializer and directly (`local_emulator/aws/
moto_attribute_values.py`), in alternating rounds; medians.

    .venv/bin/python -m bench.emulator_bench [--seconds 5] [--rounds 6]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

from local_emulator import Emulator
from local_emulator.aws import queue as emulator_queue
from runtime import start

from .bench_workflows import sequential
from .moto_process import free_port

RECEIVE = "sqs.ReceiveMessage"


async def _idle_emulator(seconds: float, virtual_time: bool) -> dict[str, float]:
    async with Emulator(world="aws", virtual_time=virtual_time) as emu:
        await (await start(sequential, 1)).result(timeout=60)
        await asyncio.sleep(emulator_queue.QUIET_AFTER_SECONDS + 0.5)
        calls = emu.world.aws.calls  # type: ignore[attr-defined]
        receives, cpu, wall = calls[RECEIVE], time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        wall = time.monotonic() - wall
        return {
            "cpu_fraction_of_a_core": round((time.process_time() - cpu) / wall, 4),
            "receives_per_second": round((calls[RECEIVE] - receives) / wall, 2),
        }


@contextlib.contextmanager
def _asking_as_before(virtual_time: bool) -> Iterator[None]:
    """The queue's polling before it slowed when quiet: a receive every 50 ms with real time,
    a receive on every call of the idle virtual-time loop (every 20 ms)."""
    queue = emulator_queue.ClockedSqsQueue
    interval, ask_every = emulator_queue.QUIET_POLL_SECONDS, queue._ask_every
    if virtual_time:
        queue._ask_every = lambda self: 0.0  # type: ignore[method-assign]
    else:
        emulator_queue.QUIET_POLL_SECONDS = 0.05
    try:
        yield
    finally:
        emulator_queue.QUIET_POLL_SECONDS, queue._ask_every = interval, ask_every  # type: ignore[method-assign]


async def measure_idle(seconds: float) -> dict[str, Any]:
    report: dict[str, Any] = {}
    for virtual_time in (False, True):
        quiet = await _idle_emulator(seconds, virtual_time)
        with _asking_as_before(virtual_time):
            before = await _idle_emulator(seconds, virtual_time)
        share = quiet["cpu_fraction_of_a_core"] / max(before["cpu_fraction_of_a_core"], 1e-9)
        report["virtual_time" if virtual_time else "real_time"] = {
            "quiet": quiet,
            "asking_as_before": before,
            "cpu_ratio": round(share, 3),
        }
    return report


def measure_moto_server_call(rounds: int, calls: int = 300) -> dict[str, Any]:
    import boto3
    from moto import backends

    from local_emulator.aws import moto_patches
    from local_emulator.aws.moto_server import MotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto_patches.install()
    once = backends.list_of_moto_modules
    per_request = once.__wrapped__  # type: ignore[attr-defined]  # moto's own
    port = free_port()
    server = MotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        client = boto3.client(
            "dynamodb",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        key = {"h": {"S": "k"}}
        client.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "h", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "h", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.put_item(TableName="t", Item=key)

        def get_item() -> None:
            client.get_item(TableName="t", Key=key, ConsistentRead=True)

        def listing(per_call: Callable[[], Any]) -> Callable[[], None]:
            return lambda: setattr(backends, "list_of_moto_modules", per_call)

        for _ in range(calls):  # warm-up: the client's and the server's first calls
            get_item()
        before, after = _cpu_ms_alternating(
            rounds, get_item, calls, listing(per_request), listing(once)
        )
    finally:
        backends.list_of_moto_modules = once
        server.stop()
    return {
        "cpu_ms_per_call_listing_per_request": round(before, 3),
        "cpu_ms_per_call_listing_once": round(after, 3),
        "ratio": round(after / before, 3),
        "rounds": rounds,
        "calls_per_round": calls,
    }


def _cpu_ms_alternating(
    rounds: int, call: Callable[[], object], times: int, before: Callable[[], None],
    after: Callable[[], None],
) -> tuple[float, float]:  # fmt: skip
    """Median CPU ms of one `call` with `before` applied and with `after` applied, measured in
    alternating rounds of `times` calls; `after` stays applied."""
    series: tuple[list[float], list[float]] = ([], [])
    for _ in range(rounds):
        for apply, measured in zip((before, after), series, strict=True):
            apply()
            started = time.process_time()
            for _ in range(times):
                call()
            measured.append((time.process_time() - started) / times * 1000)
    after()
    return statistics.median(series[0]), statistics.median(series[1])


ITEM = {
    "h": {"S": "k"},
    "run": {"S": "wrun_01J"},
    "pos": {"N": "12"},
    "b": {"B": b"x" * 300},
    "attrs": {"M": {"a": {"S": "x"}, "n": {"N": "1"}, "l": {"L": [{"S": "y"}, {"BOOL": True}]}}},
    "t": {"BOOL": True},
    "ss": {"SS": ["a", "b"]},
}


async def measure_dynamodb_rendering(rounds: int) -> dict[str, Any]:
    from moto.core.serialize import BaseJSONSerializer

    from runtime.world import RunQuery

    from .bench_workflows import zero_steps

    direct = BaseJSONSerializer._serialize_type_structure
    generic = direct.generic  # type: ignore[attr-defined]
    async with Emulator(world="aws") as emu:
        world: Any = emu.world
        for _ in range(100):
            await (await start(zero_steps)).result(timeout=60)
        client, table = world.aws.client("dynamodb"), world.config.hooks_table
        client.put_item(TableName=table, Item=ITEM)

        def rendering(structure: Any) -> Callable[[], None]:
            return lambda: setattr(BaseJSONSerializer, "_serialize_type_structure", structure)

        def get_item() -> None:
            client.get_item(TableName=table, Key={"h": ITEM["h"]}, ConsistentRead=True)

        def list_runs() -> None:
            world.runs._list_sync(RunQuery(limit=100), None)

        report: dict[str, Any] = {"rounds": rounds}
        for name, call, times in (
            ("get_item_7_attributes", get_item, 200),
            ("list_100_runs", list_runs, 5),
        ):
            generic_ms, direct_ms = _cpu_ms_alternating(
                rounds, call, times, rendering(generic), rendering(direct)
            )
            report[name] = {
                "cpu_ms_generic": round(generic_ms, 3),
                "cpu_ms_direct": round(direct_ms, 3),
                "ratio": round(direct_ms / generic_ms, 3),
            }
        return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=6)
    options = parser.parse_args()
    report = {
        "idle": asyncio.run(measure_idle(options.seconds)),
        "moto_server_call": measure_moto_server_call(options.rounds),
        "dynamodb_rendering": asyncio.run(measure_dynamodb_rendering(options.rounds)),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
