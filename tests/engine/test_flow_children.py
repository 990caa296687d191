"""Child runs (`start_child`): a parent awaits children, catches a failed one, cancels its
children when it is cancelled, and the failure model of the start and of the ending's wake."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from runtime import WorkflowFailedError, resume_hook, start
from runtime.client import Client
from runtime.engine import starting
from runtime.engine.lifecycle import deliver_child_ending
from tests.engine import flow_workflows as fw

MODULES = ["tests.engine.flow_workflows"]

both_worlds = pytest.mark.parametrize(
    "emulator_setup",
    [("memory", "inprocess"), ("aws", "inprocess")],
    ids=["memory-inprocess", "aws-inprocess"],
    indirect=True,
)
"""The memory World and the AWS World on moto, through the host in-process: the scenarios
whose invocation path does not matter (the HTTP path and the moto server are covered by the
parent-of-three scenario and the rest of the engine suite) stay inside the time budget."""


@pytest.fixture(autouse=True)
def fresh_calls() -> None:
    fw.calls.clear()


async def _until(check: Any, what: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def _events_of(run: Any, event_type: str) -> list[dict[str, Any]]:
    """The run's events of one type ([] while a just-recorded child is not yet started)."""
    if await run.world.runs.get(run.run_id) is None:
        return []
    return [e for e in await run.events() if e["type"] == event_type]


async def test_parent_awaits_three_children_and_catches_the_failed_one(make_emulator) -> None:
    async with make_emulator(modules=MODULES) as emu:
        parent = await start(fw.parent_of_three, [1, -2, 3])
        result = await parent.result(timeout=30)
        assert result["ok"] == [2, 6]
        [(failed_id, code, message)] = result["failed"]
        assert code == "USER_ERROR"
        assert message == "FatalError: negative input -2"
        assert sorted(fw.calls["double"]) == [1, 3]  # each child ran once
        children = await Client(emu.world).list(workflow=fw.child)
        assert len(children.items) == 3
        assert {c.parent_run_id for c in children.items} == {parent.run_id}
        assert failed_id in {c.run_id for c in children.items}
        assert await Client(emu.world).get_run(failed_id).status() == "failed"


@both_worlds
async def test_cancelling_a_parent_cancels_its_running_child(make_emulator) -> None:
    async with make_emulator(modules=MODULES) as emu:
        parent = await start(fw.parent_of_waiting_child, "child-token")
        [created] = await _until(lambda: _events_of(parent, "child_created"), "child_created")
        child = Client(emu.world).get_run(created["child_run_id"])
        await _until(lambda: _events_of(child, "hook_created"), "the child's hook")
        await parent.cancel()
        assert await child.status() == "cancelled"  # cancelled with the parent, at once
        with pytest.raises(WorkflowFailedError) as failure:
            await child.result(timeout=5)
        assert failure.value.code == "CANCELLED"

        kept = await start(fw.parent_of_waiting_child, "kept-token", False)
        [created] = await _until(lambda: _events_of(kept, "child_created"), "child_created")
        survivor = Client(emu.world).get_run(created["child_run_id"])
        await _until(lambda: _events_of(survivor, "hook_created"), "the child's hook")
        await kept.cancel()
        assert await survivor.status() == "running"  # cancel_with_parent=False
        await resume_hook("kept-token", "approved")
        assert await survivor.result(timeout=30) == "approved"


@both_worlds
async def test_a_child_is_started_once_when_the_host_dies_after_recording_it(
    make_emulator, monkeypatch
) -> None:
    """The parent's host records `child_created` and dies before starting the child: the
    redelivered message replays the parent and starts the child, once."""
    real_start = starting.start_run
    crashes = []

    async def dies_once(world: Any, request: Any, *args: Any) -> bool:
        if not crashes:
            crashes.append(request.run_id)
            raise ConnectionError("the host died before starting the child")
        return await real_start(world, request, *args)

    monkeypatch.setattr(starting, "start_run", dies_once)
    async with make_emulator(modules=MODULES, max_receives=5) as emu:
        parent = await start(fw.parent_of_three, [4])
        assert await parent.result(timeout=30) == {"ok": [8], "failed": []}
        assert len(crashes) == 1
        children = await Client(emu.world).list(workflow=fw.child)
        assert [c.run_id for c in children.items] == crashes  # the same, derived run id
        assert fw.calls["double"] == [4]
        assert len(await _events_of(parent, "child_created")) == 1


@both_worlds
async def test_a_repeated_child_ending_is_recorded_once(make_emulator) -> None:
    async with make_emulator(modules=MODULES) as emu:
        parent = await start(fw.parent_then_hook, "after-child")
        [ended] = await _until(lambda: _events_of(parent, "child_ended"), "child_ended")
        child_id = ended["child_run_id"]
        await _until(lambda: _events_of(parent, "hook_created"), "the parent's hook")
        for _ in range(2):  # a redelivered ending, then the reconciler's backstop
            assert not await deliver_child_ending(emu.world, parent.run_id, "child_1", child_id)
            assert await emu.host.rewake(parent.run_id) == 0  # nothing pending, nothing lost
        assert len(await _events_of(parent, "child_ended")) == 1
        await resume_hook("after-child", "done")
        assert await parent.result(timeout=30) == [10, "done"]


@both_worlds
async def test_a_lost_child_ending_is_delivered_by_the_reconciler(
    make_emulator, monkeypatch
) -> None:
    """The child's host dies after the child's status is written, before the parent hears:
    a re-wake of the parent (the reconciler's pass) finds the ended child and delivers it."""
    from runtime.engine import lifecycle

    real = lifecycle.deliver_child_ending
    lost: list[str] = []

    async def lost_once(world: Any, parent: str, command: str, child: str, *rest: Any) -> bool:
        if not lost:
            lost.append(child)
            return False  # as if the host died here
        return await real(world, parent, command, child, *rest)

    monkeypatch.setattr(lifecycle, "deliver_child_ending", lost_once)
    async with make_emulator(modules=MODULES) as emu:
        parent = await start(fw.parent_of_three, [7])
        child = Client(emu.world).get_run(
            await _until(lambda: lost and lost[0], "the child's ending")
        )
        assert await child.status() == "completed"
        assert await parent.status() == "running"
        assert await emu.host.rewake(parent.run_id) >= 1
        assert await parent.result(timeout=30) == {"ok": [14], "failed": []}


@both_worlds
async def test_every_message_delivered_twice_still_makes_one_child_each(make_emulator) -> None:
    """Two hosts handle every message (the child's ending wake included): each child is
    started once and its ending recorded once in the parent."""
    async with make_emulator(modules=MODULES, deliver_twice=True, cache_size=0) as emu:
        parent = await start(fw.parent_of_three, [1, -2, 3])
        result = await parent.result(timeout=30)
        assert result["ok"] == [2, 6] and len(result["failed"]) == 1
        children = await Client(emu.world).list(workflow=fw.child)
        assert len(children.items) == 3
        assert len(await _events_of(parent, "child_created")) == 3
        assert len(await _events_of(parent, "child_ended")) == 3
