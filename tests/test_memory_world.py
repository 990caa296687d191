"""Behaviour specific to MemoryWorld: the emulator's queue extras, thread safety, and copies."""

from __future__ import annotations

import asyncio
import base64
import threading
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from adapters.memory import MemoryWorld
from runtime.engine.events import Event, EventType, RunStatus
from runtime.errors import (
    AppendConflictError,
    CorruptedDataError,
    HookConflictError,
    RunNotFoundError,
)
from runtime.world import HookOwner, Limits, RealClock, RunRecord, World

from .conftest import ManualClock


@pytest.fixture
async def memory(clock: ManualClock) -> AsyncIterator[MemoryWorld]:
    world = MemoryWorld(clock=clock, max_receives=3)
    yield world
    await world.close()


def event(type_: str = EventType.STEP_CREATED, **attrs: object) -> Event:
    return Event(type=type_, event_id=f"evt_{uuid.uuid4().hex}", created_at=1.0, attrs=attrs)


def record(run_id: str = "run_1", created_at: float = 100.0) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        workflow_name="order",
        status=RunStatus.PENDING,
        created_at=created_at,
        updated_at=created_at,
    )


def test_defaults() -> None:
    world = MemoryWorld()
    assert isinstance(world, World)
    assert world.name == "memory"
    assert isinstance(world.clock, RealClock)
    assert world.limits == Limits()
    assert world.queue.max_receives == 5
    assert world.queue.max_delay == float("inf")


def test_swapping_the_clock_reaches_the_queue(clock: ManualClock) -> None:
    world = MemoryWorld()
    world.clock = clock
    assert world.clock is clock
    asyncio.run(world.queue.send({"n": 1}, delay=10))
    assert world.queue.next_visible_at() == clock.time() + 10


def test_max_receives_must_be_positive() -> None:
    with pytest.raises(ValueError):
        MemoryWorld(max_receives=0)


# --- queue extras ---------------------------------------------------------------------------


async def test_next_visible_at_and_depth(memory: MemoryWorld, clock: ManualClock) -> None:
    queue = memory.queue
    start = clock.time()
    assert queue.next_visible_at() is None
    assert queue.depth() == 0

    await queue.send({"n": 1}, delay=60)
    await queue.send({"n": 2}, delay=120)
    assert queue.next_visible_at() == start + 60
    assert queue.depth() == 2

    clock.advance(60)
    (delivery,) = await queue.receive(visibility_timeout=30)
    # In flight until start + 90, which is earlier than the other message's delay.
    assert queue.next_visible_at() == start + 90
    assert queue.depth() == 2

    await queue.delete(delivery)
    assert queue.next_visible_at() == start + 120
    assert queue.depth() == 1

    await queue.change_visibility(delivery, 500)  # stale receipt: nothing moves
    assert queue.next_visible_at() == start + 120


async def test_dead_letters_and_redrive(memory: MemoryWorld, clock: ManualClock) -> None:
    queue = memory.queue
    await queue.send({"n": "poison"})
    await queue.send({"n": "fine"}, delay=1000)
    for attempt in range(1, 4):
        (delivery,) = await queue.receive(visibility_timeout=10)
        assert delivery.receive_count == attempt
        clock.advance(10)
    assert queue.dead_letters == []

    assert await queue.receive(visibility_timeout=10) == []
    assert queue.dead_letters == [{"n": "poison"}]
    assert queue.depth() == 1  # only "fine" is left

    assert queue.redrive() == 1
    assert queue.dead_letters == []
    (revived,) = await queue.receive()
    assert (revived.body, revived.receive_count) == ({"n": "poison"}, 1)
    assert queue.redrive() == 0


async def test_dead_letters_are_copies(memory: MemoryWorld, clock: ManualClock) -> None:
    queue = memory.queue
    await queue.send({"items": [1]})
    for _ in range(4):
        await queue.receive(visibility_timeout=1)
        clock.advance(1)
    queue.dead_letters[0]["items"].append(2)
    assert queue.dead_letters == [{"items": [1]}]


async def test_redelivered_body_is_unaffected_by_consumer_edits(
    memory: MemoryWorld, clock: ManualClock
) -> None:
    await memory.queue.send({"items": [1]})
    (first,) = await memory.queue.receive(visibility_timeout=5)
    first.body["items"].append(2)
    clock.advance(5)
    (second,) = await memory.queue.receive()
    assert second.body == {"items": [1]}


async def test_send_rejects_bad_input(memory: MemoryWorld) -> None:
    with pytest.raises(ValueError):
        await memory.queue.send({"n": 1}, delay=-1)
    with pytest.raises(TypeError):
        await memory.queue.send({"n": object()})
    assert memory.queue.depth() == 0


async def test_long_poll_notices_a_clock_advance(memory: MemoryWorld, clock: ManualClock) -> None:
    await memory.queue.send({"n": 1}, delay=60)
    receiver = asyncio.create_task(memory.queue.receive(wait_seconds=30))
    await asyncio.sleep(0.1)
    assert not receiver.done()
    started = time.monotonic()
    clock.advance(60)  # no send: the poller must re-read the clock by itself
    (delivery,) = await asyncio.wait_for(receiver, timeout=5)
    assert delivery.body == {"n": 1}
    assert time.monotonic() - started < 8  # far below the 30 s long poll, robust to load


async def test_long_poll_wakes_on_send_from_another_thread(memory: MemoryWorld) -> None:
    receiver = asyncio.create_task(memory.queue.receive(wait_seconds=30))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    # A plain-def step runs in a thread with its own event loop.
    thread = threading.Thread(target=asyncio.run, args=(memory.queue.send({"n": "thread"}),))
    thread.start()
    deliveries = await asyncio.wait_for(receiver, timeout=5)
    thread.join()
    assert [d.body for d in deliveries] == [{"n": "thread"}]
    assert time.monotonic() - started < 8  # far below the 30 s long poll, robust to load


async def test_close_releases_long_polls(memory: MemoryWorld) -> None:
    receiver = asyncio.create_task(memory.queue.receive(wait_seconds=30))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await memory.close()
    assert await asyncio.wait_for(receiver, timeout=5) == []
    assert time.monotonic() - started < 8  # far below the 30 s long poll, robust to load


# --- log ------------------------------------------------------------------------------------


def test_appends_racing_from_threads_have_one_winner() -> None:
    world = MemoryWorld()
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def writer(n: int) -> None:
        barrier.wait()
        try:
            asyncio.run(world.log.append("run_1", 0, [event(writer=n), event(writer=n)]))
            outcomes.append(f"won {n}")
        except AppendConflictError:
            outcomes.append("lost")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    winners = [o for o in outcomes if o.startswith("won")]
    assert len(winners) == 1 and outcomes.count("lost") == 7
    stored = asyncio.run(world.log.read("run_1"))
    winner = int(winners[0].split()[1])
    assert [e.attrs["writer"] for e in stored] == [winner, winner]


async def test_terminal_event_must_end_its_batch(memory: MemoryWorld) -> None:
    with pytest.raises(ValueError, match="terminal"):
        await memory.log.append("run_1", 0, [event(EventType.RUN_COMPLETED), event()])
    assert await memory.log.read("run_1") == []


async def test_log_is_isolated_from_caller_edits(memory: MemoryWorld) -> None:
    attrs = {"tags": ["a"]}
    await memory.log.append("run_1", 0, [event(**attrs)])
    attrs["tags"].append("changed after append")
    (read,) = await memory.log.read("run_1")
    assert read.attrs == {"tags": ["a"]}
    read.attrs["extra"] = 1  # type: ignore[index]
    (again,) = await memory.log.read("run_1")
    assert "extra" not in again.attrs


# --- runs -----------------------------------------------------------------------------------


async def test_run_records_are_copies(memory: MemoryWorld) -> None:
    original = record()
    await memory.runs.create(original)
    original.status = RunStatus.CANCELLED

    fetched = await memory.runs.get("run_1")
    assert fetched is not None and fetched.status == RunStatus.PENDING
    fetched.workflow_name = "edited"
    (listed,) = (await memory.runs.list()).items
    listed.status = RunStatus.FAILED

    stored = await memory.runs.get("run_1")
    assert stored is not None
    assert (stored.workflow_name, stored.status) == ("order", RunStatus.PENDING)


async def test_update_status_of_unknown_run(memory: MemoryWorld) -> None:
    with pytest.raises(RunNotFoundError, match="run_missing"):
        await memory.runs.update_status("run_missing", RunStatus.RUNNING, updated_at=1.0)


async def test_last_page_has_no_cursor(memory: MemoryWorld) -> None:
    for i in range(20):
        await memory.runs.create(record(f"run_{i:02d}", created_at=float(i)))
    first = await memory.runs.list(limit=10)
    second = await memory.runs.list(limit=10, cursor=first.next_cursor)
    assert len(second.items) == 10
    assert second.next_cursor is None


@pytest.mark.parametrize(
    "cursor",
    [
        base64.urlsafe_b64encode(b'{"created_at": 1}').decode(),
        base64.urlsafe_b64encode(b'["yesterday", "run_1"]').decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        "!!!",
    ],
)
async def test_malformed_cursors(memory: MemoryWorld, cursor: str) -> None:
    with pytest.raises(ValueError, match="invalid cursor"):
        await memory.runs.list(cursor=cursor)


async def test_list_limit_must_be_positive(memory: MemoryWorld) -> None:
    with pytest.raises(ValueError):
        await memory.runs.list(limit=0)


# --- hooks, blobs, keys ----------------------------------------------------------------------


async def test_hook_conflict_message(memory: MemoryWorld) -> None:
    await memory.hooks.claim(HookOwner("tok_1", "run_a", "hook_0"))
    with pytest.raises(HookConflictError, match=r"tok_[0-9a-f]{8} .*another live hook") as e:
        await memory.hooks.claim(HookOwner("tok_1", "run_b", "hook_0"))
    assert "'tok_1'" not in str(e.value)  # the token itself is a credential


async def test_blob_snapshot_and_missing_key_message(memory: MemoryWorld) -> None:
    data = bytearray(b"abc")
    await memory.blobs.put("k", data)
    data[0] = ord("z")
    assert await memory.blobs.get("k") == b"abc"
    with pytest.raises(KeyError, match="nope"):
        await memory.blobs.get("nope")


async def test_data_key_of_another_world_fails(memory: MemoryWorld) -> None:
    _, encrypted = await MemoryWorld().keys.generate_data_key("run_1")
    with pytest.raises(CorruptedDataError, match="run_1"):
        await memory.keys.decrypt_data_key("run_1", encrypted)
    with pytest.raises(CorruptedDataError, match="run_1"):
        await memory.keys.decrypt_data_key("run_1", b"short")
