"""Debounced starts (runtime/engine/debounce.py): a burst is one run with the last arguments."""

from __future__ import annotations

import pytest

from runtime import start
from tests.engine import lock_workflows as fw

MODULES = ["tests.engine.lock_workflows"]


async def test_a_burst_of_starts_is_one_run_with_the_last_arguments(make_emulator) -> None:
    async with make_emulator(modules=MODULES, virtual_time=True) as emu:
        options = fw.debounced.with_options(debounce="5s", key="customer:7")
        runs = [await start(options, i) for i in range(5)]
        assert len({run.run_id for run in runs}) == 1
        assert await runs[0].status() == "pending"
        assert await runs[0].result(timeout=30) == 4
        listed = await emu.runtime_client.list(workflow=fw.debounced)
        assert [r.run_id for r in listed.items] == [runs[0].run_id]
        later = await start(options, 10)  # the window closed: a new burst, a new run
        assert later.run_id != runs[0].run_id
        assert await later.result(timeout=30) == 10
        other = await start(fw.debounced.with_options(debounce="5s", key="customer:8"), 3)
        assert await other.result(timeout=30) == 3  # keys are independent
        assert not emu.errors


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"debounce": "5s"}, "key="),
        ({"debounce": "soon", "key": "k"}, "debounce"),
        ({"debounce": "5s", "key": "k", "idempotency_key": "i"}, "do not go together"),
        ({"key": "k"}, "goes with debounce"),
    ],
)
def test_bad_debounce_options_are_refused(options: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        fw.debounced.with_options(**options)
