"""Schedules (runtime/schedules.py) fire on the emulator; virtual time skips to each fire."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import UTC, datetime

import pytest

from runtime.definitions import WorkflowDef
from runtime.schedules import parse_schedule
from runtime.scheduling import set_paused

MODULES = ["tests.engine.schedule_workflows"]
NAME = "tests.engine.schedule_workflows:hourly"


async def test_an_hourly_schedule_fires_24_times_in_a_virtual_day(
    make_emulator, emulator_setup: tuple[str, str]
) -> None:
    async with make_emulator(modules=MODULES, virtual_time=True) as emu:
        began = time.monotonic()
        deadline = began + 20
        while sum(1 for name, _ in emu.fired if name == NAME) < 24:
            assert time.monotonic() < deadline, f"only {len(emu.fired)} fires"
            await asyncio.sleep(0.01)
        real = time.monotonic() - began
        await set_paused(emu.world, NAME, True)  # virtual time would go on firing
        fires = [at for name, at in emu.fired if name == NAME][:24]
        runs: list = []
        while len(runs) < 24:  # the last fire's start may still be under way
            assert time.monotonic() < deadline, f"only {len(runs)} runs"
            runs = (await emu.runtime_client.list(workflow=NAME, limit=100)).items
            await asyncio.sleep(0.01)
        assert not emu.errors
    # Under 5 s on the memory World; moto serializes each run's ~40 calls (about 0.2 s a run).
    assert real < {"memory": 5.0, "aws": 10.0}.get(emulator_setup[0], 15.0), real
    assert all(datetime.fromtimestamp(at, UTC).minute == 0 for at in fires)
    assert [b - a for a, b in itertools.pairwise(fires)] == [3600.0] * 23
    assert len(runs) >= 24


async def test_a_paused_schedule_starts_no_runs(make_emulator) -> None:
    async with make_emulator(modules=MODULES, virtual_time=True) as emu:
        await set_paused(emu.world, NAME, True)
        before = len(emu.fired)  # the poller may have fired once while we paused
        deadline = time.monotonic() + 20
        while len(emu.fired) < before + 3:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        assert len((await emu.runtime_client.list(workflow=NAME)).items) <= before
        await set_paused(emu.world, NAME, False)
        deadline = time.monotonic() + 20
        while len((await emu.runtime_client.list(workflow=NAME)).items) <= before:
            assert time.monotonic() < deadline, "resumed, but no run started"
            await asyncio.sleep(0.01)
        assert not emu.errors


def _wf() -> WorkflowDef:
    return WorkflowDef("t", lambda: None)


def test_cron_and_rate_next_fire_times() -> None:
    t = datetime(2026, 1, 5, 8, 30, tzinfo=UTC).timestamp()  # a Monday
    nine = parse_schedule(_wf(), "cron(0 9 * * ? *)").next_after(t)
    assert datetime.fromtimestamp(nine, UTC) == datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    friday = parse_schedule(_wf(), "cron(15 10 ? * FRI *)").next_after(t)
    assert datetime.fromtimestamp(friday, UTC) == datetime(2026, 1, 9, 10, 15, tzinfo=UTC)
    assert parse_schedule(_wf(), "rate(5 minutes)").next_after(t) == t + 300


@pytest.mark.parametrize(
    "bad",
    [
        "cron(0 9 * * *)",
        "cron(0 9 L * ? *)",
        "cron(0 25 * * ? *)",
        "rate(0 minutes)",
        "rate(1 minutes)",
        "every day",
        "cron(0 9 * * MON *)",
    ],
)
def test_bad_schedules_are_refused_clearly(bad: str) -> None:
    with pytest.raises(ValueError, match="schedule"):
        parse_schedule(_wf(), bad)
