"""Locks, concurrency limits and rate limits across runs (runtime/locks.py, engine/locks.py),
end to end on every World and invocation mode (`make_emulator`)."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest

from runtime import Limit, Rate, lock, resume_hook, start, step
from runtime.errors import NotInWorkflowError
from tests.engine import lock_workflows as fw

MODULES = ["tests.engine.lock_workflows"]


@pytest.fixture(autouse=True)
def _reset() -> None:
    fw.reset()


@pytest.fixture
def scale(emulator_setup: tuple[str, str]) -> float:
    """The full counts of the acceptance criteria on the memory World; on moto (about 100x
    slower a call, serialized) and over HTTP a bounded share of them, so the suite stays fast."""
    return 1.0 if emulator_setup == ("memory", "inprocess") else 0.2


async def _until(predicate: Any, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def _recorded(run: Any, event_type: str) -> bool:
    return any(e["type"] == event_type for e in await run.events())


async def test_twenty_runs_take_one_lock_one_at_a_time_in_start_order(
    make_emulator, scale: float
) -> None:
    n = int(20 * scale)
    async with make_emulator(modules=MODULES, concurrency=4) as emu:
        gate = await start(fw.hold_until_told, "account:42", 600)  # holds the lock first
        await _until(lambda: _recorded(gate, "lock_acquired"), "the gate to hold the lock")
        runs = [await start(fw.contend, f"r{i:02d}", 0.005) for i in range(n)]
        for run in runs:  # every run asked and suspended: no invocation is running for them
            await _until(lambda run=run: _recorded(run, "lock_requested"), "a lock request")
        assert not any([await _recorded(run, "lock_acquired") for run in runs])
        await resume_hook("release:account:42", None)
        results = [await run.result(timeout=60) for run in runs]
        assert await gate.result(timeout=10) == 1
        assert not emu.errors
    by_start = sorted(results, key=lambda r: r["began"])
    assert [r["name"] for r in by_start] == [f"r{i:02d}" for i in range(n)]  # start order
    for before, after in itertools.pairwise(by_start):
        assert after["began"] >= before["ended"], f"{after['name']} overlapped {before['name']}"
    assert [r["fence"] for r in results] == list(range(2, n + 2))  # one grant each, in order
    assert fw.peaks["lock"] == 1


async def test_a_holder_that_stops_loses_the_lock_when_its_lease_ends(make_emulator) -> None:
    async with make_emulator(modules=MODULES, virtual_time=True) as emu:
        holder = await start(fw.hold_until_told, "stuck", 30)
        await _until(lambda: _recorded(holder, "lock_acquired"), "the holder to hold the lock")
        acquired = next(e for e in await holder.events() if e["type"] == "lock_acquired")
        began = time.monotonic()
        waiter = await start(fw.take_after, "stuck")
        took_at = await waiter.result(timeout=30)
        assert time.monotonic() - began < 10  # virtual time skipped the 30 s lease
        assert took_at >= acquired["until"]
        assert acquired["until"] == pytest.approx(acquired["created_at"].timestamp() + 30, abs=1)
        # The old holder comes back: its release is a no-op, its fence is the older one.
        await resume_hook("release:stuck", None)
        assert await holder.result(timeout=30) == 1
        second = next(e for e in await waiter.events() if e["type"] == "lock_acquired")
        assert second["fence"] == 2
        assert not emu.errors


async def test_a_holder_stuck_inside_its_critical_section_loses_the_lock_after_its_lease(
    make_emulator,
) -> None:
    fw.unstick.clear()
    async with make_emulator(modules=MODULES) as emu:
        holder = await start(fw.hang_in_lock, "hung")  # its invocation hangs in the step
        await _until(lambda: _recorded(holder, "lock_acquired"), "the holder")
        began = time.monotonic()
        waiter = await start(fw.take_after, "hung")
        await waiter.result(timeout=20)  # taken over when the 1 s lease ended
        assert time.monotonic() - began < 10
        assert await holder.status() == "running"  # the stuck holder is still inside
        fw.unstick.set()
        assert await holder.result(timeout=20) == 1  # its late release changed nothing
        assert not emu.errors


async def test_a_cancelled_holder_and_a_cancelled_waiter_give_the_lock_on(make_emulator) -> None:
    async with make_emulator(modules=MODULES) as emu:
        holder = await start(fw.hold_until_told, "handover", 600)
        await _until(lambda: _recorded(holder, "lock_acquired"), "the holder")
        quitter = await start(fw.take_after, "handover")
        await _until(lambda: _recorded(quitter, "lock_requested"), "the first waiter")
        waiter = await start(fw.take_after, "handover")
        await _until(lambda: _recorded(waiter, "lock_requested"), "the second waiter")
        await quitter.cancel()  # leaves the queue: the lock must skip it
        await holder.cancel()  # its ending gives the lock back (apply_run_ending)
        await waiter.result(timeout=30)
        assert await quitter.status() == "cancelled"
        assert not await _recorded(quitter, "lock_acquired")
        assert not emu.errors


async def test_a_waiter_that_times_out_leaves_the_queue(make_emulator) -> None:
    async with make_emulator(modules=MODULES, virtual_time=True) as emu:
        holder = await start(fw.hold_until_told, "busy", 600)
        await _until(lambda: _recorded(holder, "lock_acquired"), "the holder")
        impatient = await start(fw.lock_with_timeout, "busy")
        assert await impatient.result(timeout=30) == "gave up"
        await resume_hook("release:busy", None)
        assert await holder.result(timeout=30) == 1
        after = await start(fw.take_after, "busy")
        await after.result(timeout=30)  # nobody holds or waits: the lock is free at once
        assert not emu.errors


async def test_a_workflow_limit_of_two_holds_under_fifty_starts(
    make_emulator, scale: float
) -> None:
    async with make_emulator(modules=MODULES, concurrency=8) as emu:
        orders = [{"id": f"o{i}", "account": "acme"} for i in range(int(50 * scale))]
        runs = await asyncio.gather(*(start(fw.limited, order) for order in orders))
        results = [await run.result(timeout=120) for run in runs]
        assert results == [order["id"] for order in orders]
        assert not emu.errors
    assert 1 <= fw.peaks["limit"] <= 2  # never exceeded


async def test_a_step_limit_bounds_parallel_attempts(make_emulator) -> None:
    async with make_emulator(modules=MODULES, concurrency=8) as emu:
        run = await start(fw.fan_out_limited, 12)
        assert await run.result(timeout=60) == [f"s{i}" for i in range(12)]
        assert not emu.errors
    assert 1 <= fw.peaks["step"] <= 2


async def test_a_step_rate_of_ten_a_second_holds_over_a_hundred_calls(
    make_emulator, scale: float
) -> None:
    n = 100 if scale == 1.0 else 10
    async with make_emulator(modules=MODULES, virtual_time=True, concurrency=8) as emu:
        began = time.monotonic()
        run = await start(fw.fan_out_rated, n)
        stamps = sorted(await run.result(timeout=60))
        real = time.monotonic() - began
        assert not emu.errors
    assert len(stamps) == n
    span = stamps[-1] - stamps[0]
    if n == 100:
        rate = (n - 1) / span
        assert 9.0 <= rate <= 11.0, rate  # within 10 % of 10/s
        # Slots are exactly 0.1 s apart; an attempt starts at its slot or an invocation's
        # latency after it, so a window of 1 s may catch a late start beside its own ten.
        for i in range(n - 12):
            assert stamps[i + 12] - stamps[i] >= 1.0
    else:  # the bounded version on slower paths: a late first start shortens the span a bit
        assert span >= (n - 1) * 0.1 - 0.6, span
    assert real < 30  # virtual time: ~10 s of World time, not waited for


async def test_cold_replays_keep_the_lock_protocol(make_emulator) -> None:
    async with make_emulator(modules=MODULES, cache_size=0) as emu:
        runs = [await start(fw.contend, f"c{i}") for i in range(5)]
        results = [await run.result(timeout=30) for run in runs]
        assert sorted(r["fence"] for r in results) == [1, 2, 3, 4, 5]
        assert not emu.errors


# --- bad input --------------------------------------------------------------------------------


async def test_lock_outside_a_workflow_is_refused() -> None:
    with pytest.raises(NotInWorkflowError, match="inside a @workflow"):
        async with lock("x"):
            pass


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: lock(""), ValueError, "lock name"),
        (lambda: lock("x", lease="soon"), ValueError, "lease"),
        (lambda: lock("x", lease=0), ValueError, "longer than 0"),
        (lambda: Limit(key=lambda o: o, max=0), ValueError, "max"),
        (lambda: Limit(key="account"), TypeError, "function"),
        (lambda: Rate(0), ValueError, "count"),
        (lambda: Rate(10, per="-1s"), ValueError, "per"),
        (lambda: step(rate=10), TypeError, "Rate"),
        (lambda: step(concurrency=2), TypeError, "Limit"),
    ],
)
def test_bad_flow_options_are_refused_clearly(make: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        make()
