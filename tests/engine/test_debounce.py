"""Debounced starts (runtime/engine/debounce.py): a burst is one run with the last arguments."""

from __future__ import annotations

from typing import Any

import pytest

from runtime import start
from runtime.engine.debounce import debounce_key, decode_event, fire_debounced
from runtime.engine.messages import DebounceMessage
from runtime.registry import workflow_def_of
from tests.conftest import installed
from tests.engine import lock_workflows as fw

MODULES = ["tests.engine.lock_workflows"]


async def test_a_burst_of_starts_is_one_run_with_the_last_arguments(make_emulator) -> None:
    async with make_emulator(modules=MODULES, virtual_time=True) as emu:
        options = fw.debounced.with_options(debounce="5s", key="customer:7")
        with emu.holding_time():  # a burst: five starts within real milliseconds
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


def _fire_message(run_id: str) -> tuple[DebounceMessage, str]:
    name = workflow_def_of(fw.debounced).name
    key = debounce_key(name, "race")
    return DebounceMessage(run_id, name, key), key


async def test_a_start_between_the_fires_read_and_its_close_is_not_lost(
    world, clock, monkeypatch
) -> None:
    """The fire closes the burst conditionally on what it read: a start that lands in between
    makes the close fail, and the run starts later with that start's arguments."""
    options = fw.debounced.with_options(debounce="5s", key="race")
    async with installed(world):
        run = await start(options, 1)
        clock.advance(6)
        message, key = _fire_message(run.run_id)
        real_get, raced = world.coordination.get, []

        async def get_then_start(item_key: str) -> Any:
            item = await real_get(item_key)
            if not raced:
                monkeypatch.setattr(world.coordination, "get", real_get)
                raced.append(await start(options, 2))  # after the fire's read, before its close
            return item

        monkeypatch.setattr(world.coordination, "get", get_then_start)
        sent: list[tuple[Any, float]] = []

        async def send(out: Any, delay: float) -> None:
            sent.append((out, delay))

        await fire_debounced(world, message, send)
        assert raced[0].run_id == run.run_id
        assert sent == [(message, 5.0)]  # not due any more: the window moved
        assert await world.log.read(run.run_id) == []
        last = (await real_get(key)).data["event"]
        clock.advance(6)
        sent.clear()
        await fire_debounced(world, message, send)
        [created] = await world.log.read(run.run_id)
        assert created.payload == decode_event(last).payload  # the second start's arguments
        assert [type(out).__name__ for out, _ in sent] == ["WorkflowMessage"]


async def test_a_fire_that_dies_after_closing_is_completed_by_the_next_start(
    world, clock, monkeypatch
) -> None:
    options = fw.debounced.with_options(debounce="5s", key="race")
    async with installed(world):
        first = await start(options, 1)
        clock.advance(6)
        message, _ = _fire_message(first.run_id)
        real_append = world.log.append

        async def dies(*args: Any) -> None:
            raise RuntimeError("the host died")

        monkeypatch.setattr(world.log, "append", dies)
        with pytest.raises(RuntimeError, match="died"):
            await fire_debounced(world, message, None)
        monkeypatch.setattr(world.log, "append", real_append)
        assert await world.log.read(first.run_id) == []
        second = await start(options, 2)  # the window closed: a new burst
        assert second.run_id != first.run_id
        [created] = await world.log.read(first.run_id)  # the new start completed the fire
        assert created.type == "run_created"
        woken = [d.body for d in await world.queue.receive(max_messages=10)]
        assert {"kind": "workflow", "run_id": first.run_id}.items() <= next(
            b for b in woken if b.get("run_id") == first.run_id and b["kind"] == "workflow"
        ).items()
        await fire_debounced(world, message, None)  # a redelivery: nothing left to do
        assert len(await world.log.read(first.run_id)) == 1
