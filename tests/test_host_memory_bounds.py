"""A long-running host keeps per-run state only in bounded structures (docs/architecture.md,
"Memory of a long-running host"): after many more runs than each bound, every structure holds
at most its bound and nothing is left for runs that are over. Counts, not RSS (RSS over 2,000
runs is bench/rss_bench.py's). The bounds are shrunk so that a few dozen runs overflow them."""

from __future__ import annotations

import asyncio
import time

import pytest

from adapters.aws import log_cache
from local_emulator import Emulator
from runtime import start
from runtime.engine import codec, endings
from tests.engine import workflows as wf

RUNS = 16
BOUND = 4
CACHE_SIZE = 2


@pytest.mark.parametrize("world", ["memory", "aws"])
async def test_per_run_structures_stay_within_their_bounds(monkeypatch, world: str) -> None:
    monkeypatch.setattr(codec, "_KEY_CACHE_SIZE", BOUND)
    monkeypatch.setattr(endings, "REMEMBERED", BOUND)
    monkeypatch.setattr(log_cache, "_MAX_RUNS", BOUND)
    async with Emulator(
        world=world, modules=["tests.engine.workflows"], cache_size=CACHE_SIZE
    ) as emu:
        emu.invocation_counts._limit = BOUND  # type: ignore[attr-defined]
        for i in range(RUNS):
            run = await start(wf.sequential, 3)  # three inline steps: instance, key, log, hook
            assert await run.result(timeout=60) == 3, i
        host = emu.host
        sizes = {
            "warm_instances": len(host._instances),
            "run_metadata": len(host._metadata),
            "run_locks": len(host._locks),
            "data_keys": len(host.codecs._codecs),
            "endings": endings.remembered_endings(),
            "invocation_counters": len(emu.invocation_counts._runs),  # type: ignore[attr-defined]
        }
        cache = getattr(emu.world.log, "_cache", None)
        if cache is not None:
            sizes["log_cache_runs"] = len(cache._logs)
        queue = emu.world.queue
        names = [n for n in ("_in_flight", "_waiting_keys", "_receipts") if hasattr(queue, n)]
        deadline = time.monotonic() + 10  # the last message is deleted after result() returns
        while any(getattr(queue, n) for n in names) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for name in names:  # the emulator's SQS queue
            sizes[f"queue{name}"] = len(getattr(queue, name))
    bounds = {
        "warm_instances": CACHE_SIZE,  # ended runs are never kept: in fact 0
        "run_metadata": 16 * CACHE_SIZE,
        "run_locks": 0,  # dropped when the run's invocation ends
        "data_keys": BOUND,
        "endings": BOUND,
        "invocation_counters": BOUND,
        "log_cache_runs": BOUND,
        "queue_in_flight": 0,  # every message settled
        "queue_waiting_keys": 0,
        "queue_receipts": 0,  # dropped on delete
    }
    over = {name: size for name, size in sizes.items() if size > bounds[name]}
    assert not over, (sizes, bounds)
    assert sizes["data_keys"] == BOUND and sizes["endings"] == BOUND  # filled, then bounded
