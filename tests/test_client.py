"""`runtime.Client(world)`: everything it does acts on its own World, whichever one is current.

Each test runs on every World of the conformance suite (`world` fixture: memory, AWS on moto
in-process and on a moto server); an emulator drains the World's queue, and a decoy World is
made current meanwhile, so anything that leaked to the current World would show up there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import pytest

from adapters.memory import MemoryWorld
from local_emulator import Emulator
from runtime import Client, HookNotFoundError, RunNotFoundError, get_run, resume_hook, start
from runtime.config import set_world
from runtime.world import World
from tests.engine import workflows as wf
from tests.engine.test_scenarios import _wait_for_event

ADDITION = wf.addition.__steplane_workflow__.name


@pytest.fixture
async def client(world: World) -> AsyncIterator[Client]:
    """A client of `world` while an emulator runs it and a decoy World is the current one."""
    async with Emulator(world=world, reconcile_every=None):
        decoy = MemoryWorld()
        previous = set_world(decoy)
        try:
            yield Client(world)
            assert (await decoy.runs.list()).items == []  # nothing leaked to the current World
        finally:
            set_world(previous)
            await decoy.close()


async def test_start_and_result_in_the_clients_world(client: Client) -> None:
    run = await client.start(wf.addition, 2, 3)
    assert run.run_id.startswith("run_") and run.world is client.world
    assert await run.result(timeout=10) == 5
    assert await client.get_run(run.run_id).status() == "completed"
    record = await client.get_run(run.run_id).record()
    assert record.workflow_name == ADDITION


async def test_list_filters_and_pages(client: Client) -> None:
    done = [await client.start(wf.addition, i, i) for i in range(3)]
    for run in done:
        await run.result(timeout=10)
    holding = await client.start(wf.hold_hook, "client:list")
    await _wait_for_event(holding, "hook_created")

    completed = await client.list(status="completed", workflow=ADDITION)
    assert sorted(r.run_id for r in completed.items) == sorted(r.run_id for r in done)
    by_function = await client.list(workflow=wf.addition)
    assert sorted(r.run_id for r in by_function.items) == sorted(r.run_id for r in done)
    assert [r.run_id for r in (await client.list(status="running")).items] == [holding.run_id]
    assert (await client.list(workflow="nowhere:wf")).items == []

    seen, cursor = [], None
    while True:
        page = await client.list(limit=2, cursor=cursor)
        seen += [r.run_id for r in page.items]
        if (cursor := page.next_cursor) is None:
            break
    assert sorted(seen) == sorted(r.run_id for r in [*done, holding])
    with pytest.raises(ValueError):
        await client.list(status="sleeping")


async def test_cancel_returns_the_status_after(client: Client) -> None:
    holding = await client.start(wf.hold_hook, "client:cancel")
    await _wait_for_event(holding, "hook_created")
    assert await client.cancel(holding.run_id) == "cancelled"
    finished = await client.start(wf.addition, 1, 1)
    await finished.result(timeout=10)
    assert await client.cancel(finished.run_id) == "completed"  # an ended run stays as it ended
    with pytest.raises(RunNotFoundError):
        await client.cancel("run_missing")


async def test_resume_hook_with_an_idempotency_key_delivers_once(client: Client) -> None:
    run = await client.start(wf.three_payloads, "client:hook")
    await _wait_for_event(run, "hook_created")
    for _ in range(3):
        assert await client.resume_hook("client:hook", "one", idempotency_key="k-1") == run.run_id
    await client.resume_hook("client:hook", "two")
    await client.resume_hook("client:hook", "three")
    assert (await run.result(timeout=10))["payloads"] == ["one", "two", "three"]
    with pytest.raises(HookNotFoundError):
        await client.resume_hook("client:hook", "late")


async def test_start_with_an_idempotency_key_is_one_run(client: Client) -> None:
    keyed = wf.addition.with_options(idempotency_key="order:1")
    first = await client.start(keyed, 1, 2)
    again = await client.start(keyed, 5, 5)  # the first start's arguments win
    assert again.run_id == first.run_id
    assert await again.result(timeout=10) == 3
    assert len((await client.list()).items) == 1


async def test_events_sealed_or_opened(client: Client) -> None:
    run = await client.start(wf.round_trip, "top secret")
    await run.result(timeout=10)
    opened = await run.events()
    assert opened[0]["type"] == "run_created" and opened[-1]["type"] == "run_completed"
    assert opened[0]["data"] == {"args": ["top secret"], "kwargs": {}}
    assert all(isinstance(e["created_at"], datetime) for e in opened)
    sealed = await run.events(decrypt=False)
    assert [e["type"] for e in sealed] == [e["type"] for e in opened]
    assert "top secret" not in str(sealed)
    assert all(e["data"]["encrypted"] is True for e in sealed if "data" in e)
    assert await run.events(2) == opened[2:]
    with pytest.raises(RunNotFoundError):
        await client.get_run("run_missing").events()


async def test_module_level_functions_use_the_current_world(world: World) -> None:
    async with Emulator(world=world, reconcile_every=None) as emu:
        assert Client.current().world is world
        run = await start(wf.hold_hook, "current:hook")
        assert run.world is world and get_run(run.run_id).world is world
        await _wait_for_event(run, "hook_created")
        assert await resume_hook("current:hook", "hi", idempotency_key="k") == run.run_id
        assert await run.result(timeout=10) == "hi"
        assert [r.run_id for r in (await emu.runtime_client.list()).items] == [run.run_id]
