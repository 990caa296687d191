"""At-least-once delivery: every queue message handled twice, by two function hosts at once
(two warm Lambda instances), changes nothing: same results, every event recorded once."""

from __future__ import annotations

from collections import Counter

import pytest

from runtime import resume_hook, start
from tests.engine import workflows as wf
from tests.engine.test_scenarios import _wait_for_event


def assert_recorded_once(events: list[dict]) -> None:
    keys = Counter(
        (e["type"], e["correlation_id"], e.get("attempt"))
        for e in events
        if e["type"] != "hook_received"
    )
    duplicates = {key: n for key, n in keys.items() if n > 1}
    assert not duplicates, f"recorded more than once: {duplicates}"
    assert [e["seq"] for e in events] == list(range(len(events)))


@pytest.mark.parametrize(
    ("workflow", "args", "expected"),
    [
        (wf.addition, (2, 3), 5),
        (wf.three_steps, (0,), 111),
        (wf.sequential, (30,), sum(range(30))),
        (wf.sleep_then_step, (), 42),
        (
            wf.checkout_with_compensation,
            ("dup-1",),
            {"compensated": "released dup-1", "error": "declined dup-1"},
        ),
    ],
    ids=["addition", "three-steps", "sequential-30", "sleep-then-step", "compensation"],
)
async def test_duplicate_delivery_changes_nothing(make_emulator, workflow, args, expected) -> None:
    async with make_emulator(deliver_twice=True, virtual_time=True) as emu:
        run = await start(workflow, *args)
        assert await run.result(timeout=20) == expected
        assert_recorded_once(await run.events())
        assert emu.errors == []


async def test_duplicate_delivery_of_fan_out(make_emulator) -> None:
    async with make_emulator(deliver_twice=True) as emu:
        run = await start(wf.gather_then_sequence)
        step_ids = await run.result(timeout=20)
        assert len(set(step_ids)) == 20
        events = await run.events()
        assert_recorded_once(events)
        assert emu.errors == []


async def test_duplicate_delivery_with_hooks(make_emulator) -> None:
    async with make_emulator(deliver_twice=True):
        run = await start(wf.three_payloads, "dup-hook")
        await _wait_for_event(run, "hook_created")
        for payload in (1, 2, 3):
            await resume_hook("dup-hook", payload)
        assert (await run.result(timeout=30))["payloads"] == [1, 2, 3]
        events = await run.events()
        assert_recorded_once(events)
        assert [e["data"] for e in events if e["type"] == "hook_received"] == [1, 2, 3]
