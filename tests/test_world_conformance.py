"""The World conformance suite: every World must pass these, through the protocol alone.

Tests use only `runtime.world` methods plus the `clock` fixture (the manual clock the World was
built with), so that a new World is checked by adding it to `conftest.WORLD_FACTORIES`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import replace

import pytest

from runtime.engine.events import Event, EventType, RunStatus
from runtime.errors import (
    AppendConflictError,
    CorruptedDataError,
    HookConflictError,
    RunNotFoundError,
    RunTerminalError,
)
from runtime.world import (
    BlobStore,
    EventLog,
    HookOwner,
    HookRegistry,
    KeyProvider,
    Queue,
    RunRecord,
    RunStore,
    StreamStore,
    World,
)

from .conftest import ManualClock


def new_id(prefix: str = "run") -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def event(type_: str = EventType.STEP_CREATED, **attrs: object) -> Event:
    return Event(
        type=type_,
        event_id=new_id("evt"),
        created_at=1_700_000_000.0,
        correlation_id=new_id("step"),
        attrs=attrs,
        payload=b"ciphertext",
    )


def record(
    run_id: str | None = None,
    *,
    workflow_name: str = "order",
    status: RunStatus = RunStatus.PENDING,
    created_at: float = 1_700_000_000.0,
) -> RunRecord:
    return RunRecord(
        run_id=run_id or new_id(),
        workflow_name=workflow_name,
        status=status,
        created_at=created_at,
        updated_at=created_at,
    )


STORES = {
    "log": EventLog,
    "runs": RunStore,
    "hooks": HookRegistry,
    "blobs": BlobStore,
    "streams": StreamStore,
    "queue": Queue,
    "keys": KeyProvider,
}


def test_world_satisfies_protocol(world: World) -> None:
    assert isinstance(world, World)
    assert world.name


def test_every_store_has_every_member_its_protocol_declares(world: World) -> None:
    """Optional capabilities included: callers use them without probing (runtime/world.py)."""
    for attribute, protocol in STORES.items():
        declared = {name for name in vars(protocol) if not name.startswith("_")}
        declared |= set(protocol.__annotations__)
        store = getattr(world, attribute)
        assert {name for name in declared if not hasattr(store, name)} == set(), attribute


# --- event log ----------------------------------------------------------------------------


async def test_racing_appends_have_exactly_one_winner(world: World) -> None:
    run_id = new_id()
    await world.log.append(run_id, 0, [event(EventType.RUN_CREATED)])
    batches = [[event(writer=i), event(writer=i)] for i in range(8)]

    async def write(batch: list[Event]) -> Exception | None:
        try:
            await world.log.append(run_id, 1, batch)
        except AppendConflictError as exc:
            assert exc.position == 1
            return exc
        return None

    outcomes = await asyncio.gather(*(write(batch) for batch in batches))

    winners = [i for i, outcome in enumerate(outcomes) if outcome is None]
    assert len(winners) == 1
    stored = await world.log.read(run_id)
    assert [e.event_id for e in stored[1:]] == [e.event_id for e in batches[winners[0]]]
    assert len(stored) == 3
    for outcome in outcomes:  # what beat a loser, when the World hands it over, is the log's
        newer = getattr(outcome, "newer", None)
        if newer is not None:
            assert [(e.seq, e.event_id) for e in newer] == [(e.seq, e.event_id) for e in stored[1:]]


async def test_sequential_appends_and_incremental_reads(world: World) -> None:
    run_id = new_id()
    first = [event(EventType.RUN_CREATED), event(EventType.RUN_STARTED)]
    await world.log.append(run_id, 0, first)
    assert [e.seq for e in await world.log.read(run_id)] == [0, 1]

    second = [event(n=1)]
    await world.log.append(run_id, 2, second)
    third = [event(n=2), event(n=3)]
    await world.log.append(run_id, 3, third)

    tail = await world.log.read(run_id, 2)
    assert [e.event_id for e in tail] == [e.event_id for e in second + third]
    assert [e.seq for e in tail] == [2, 3, 4]
    assert await world.log.read(run_id, 5) == []


async def test_read_keeps_event_contents(world: World) -> None:
    run_id = new_id()
    original = event(EventType.STEP_COMPLETED, attempt=2, name="charge")
    await world.log.append(run_id, 0, [original])
    (stored,) = await world.log.read(run_id)
    assert stored == original.at(0)
    assert original.seq == -1  # the caller's event is not modified


async def test_read_of_unknown_run_is_empty(world: World) -> None:
    assert await world.log.read(new_id()) == []


async def test_multi_event_append_is_contiguous(world: World) -> None:
    run_id = new_id()
    batch = [event(n=i) for i in range(5)]
    await world.log.append(run_id, 0, batch)
    stored = await world.log.read(run_id)
    assert [e.seq for e in stored] == [0, 1, 2, 3, 4]
    assert [e.attrs["n"] for e in stored] == [0, 1, 2, 3, 4]


async def test_losing_batch_leaves_nothing_behind(world: World) -> None:
    run_id = new_id()
    await world.log.append(run_id, 0, [event(), event()])
    with pytest.raises(AppendConflictError):
        await world.log.append(run_id, 1, [event(), event(), event()])
    assert len(await world.log.read(run_id)) == 2


async def test_append_at_wrong_position(world: World) -> None:
    run_id = new_id()
    with pytest.raises(ValueError):
        await world.log.append(run_id, 1, [event()])
    await world.log.append(run_id, 0, [event(), event()])
    with pytest.raises(AppendConflictError):
        await world.log.append(run_id, 0, [event()])
    with pytest.raises(ValueError):
        await world.log.append(run_id, 3, [event()])
    assert len(await world.log.read(run_id)) == 2


async def test_empty_append_is_refused(world: World) -> None:
    with pytest.raises(ValueError):
        await world.log.append(new_id(), 0, [])


@pytest.mark.parametrize(
    "terminal", [EventType.RUN_COMPLETED, EventType.RUN_FAILED, EventType.RUN_CANCELLED]
)
async def test_terminal_run_accepts_nothing_new(world: World, terminal: EventType) -> None:
    run_id = new_id()
    await world.log.append(run_id, 0, [event(EventType.RUN_CREATED), event(terminal)])
    before = await world.log.read(run_id)

    with pytest.raises(RunTerminalError) as raised:
        await world.log.append(run_id, 2, [event(EventType.HOOK_CREATED)])
    assert raised.value.run_id == run_id
    with pytest.raises(RunTerminalError):
        await world.log.append(run_id, 2, [event(EventType.RUN_COMPLETED)])
    with pytest.raises(AppendConflictError):
        await world.log.append(run_id, 1, [event()])

    assert await world.log.read(run_id) == before


# --- run records --------------------------------------------------------------------------


async def test_run_create_and_get(world: World) -> None:
    original = record(workflow_name="signup")
    original.encrypted_data_key = b"wrapped"
    original.parent_run_id = "run_parent"
    await world.runs.create(original)
    assert await world.runs.get(original.run_id) == original
    assert await world.runs.get(new_id()) is None


async def test_run_create_duplicate(world: World) -> None:
    first = record()
    await world.runs.create(first)
    with pytest.raises(ValueError, match=first.run_id):
        await world.runs.create(record(first.run_id, workflow_name="other"))
    stored = await world.runs.get(first.run_id)
    assert stored is not None
    assert stored.workflow_name == "order"


@pytest.mark.parametrize("payload_bytes", [10, 360_000], ids=["small", "over-an-item"])
async def test_create_run_stores_the_record_and_the_first_batch(
    world: World, payload_bytes: int
) -> None:
    """`create_run` is what a fresh start writes: afterwards the run is listed, its log
    holds `run_created` at 0 (a first batch too big for one item included), a racing append
    at 0 loses, and the log goes on at 1."""
    original = record(workflow_name="signup")
    original.encrypted_data_key = b"wrapped"
    created = replace(event(EventType.RUN_CREATED), payload=b"x" * payload_bytes)
    await world.create_run(original, [created])
    assert await world.runs.get(original.run_id) == original
    [stored] = await world.log.read(original.run_id)
    assert (stored.type, stored.seq, stored.payload) == (EventType.RUN_CREATED, 0, created.payload)
    with pytest.raises(AppendConflictError):
        await world.log.append(original.run_id, 0, [event()])
    await world.log.append(original.run_id, 1, [event()])
    assert [e.seq for e in await world.log.read(original.run_id)] == [0, 1]
    page = await world.runs.list(workflow_name="signup")
    assert original.run_id in [r.run_id for r in page.items]


async def test_update_status_moves_forward(world: World) -> None:
    run = record()
    await world.runs.create(run)
    assert await world.runs.update_status(run.run_id, RunStatus.RUNNING, updated_at=10.0)
    stored = await world.runs.get(run.run_id)
    assert stored is not None
    assert (stored.status, stored.updated_at, stored.completed_at) == (
        RunStatus.RUNNING,
        10.0,
        None,
    )
    # Same status: nothing to change.
    assert not await world.runs.update_status(run.run_id, RunStatus.RUNNING, updated_at=11.0)
    stored = await world.runs.get(run.run_id)
    assert stored is not None
    assert stored.updated_at == 10.0


async def test_terminal_status_is_final(world: World) -> None:
    run = record()
    await world.runs.create(run)
    assert await world.runs.update_status(
        run.run_id, RunStatus.FAILED, updated_at=20.0, error_code="USER_ERROR"
    )
    for status in RunStatus:
        assert not await world.runs.update_status(run.run_id, status, updated_at=30.0)
    stored = await world.runs.get(run.run_id)
    assert stored is not None
    assert stored.status == RunStatus.FAILED
    assert stored.error_code == "USER_ERROR"
    assert stored.completed_at == 20.0
    assert stored.updated_at == 20.0


async def test_list_filters_newest_first(world: World) -> None:
    runs = [
        record(workflow_name="a", status=RunStatus.RUNNING, created_at=100.0),
        record(workflow_name="b", status=RunStatus.RUNNING, created_at=101.0),
        record(workflow_name="a", status=RunStatus.PENDING, created_at=102.0),
        record(workflow_name="a", status=RunStatus.RUNNING, created_at=103.0),
        record(workflow_name="b", status=RunStatus.PENDING, created_at=104.0),
    ]
    for run in runs:
        await world.runs.create(run)

    async def ids(**filters: object) -> list[str]:
        page = await world.runs.list(**filters)  # type: ignore[arg-type]
        assert page.next_cursor is None
        return [r.run_id for r in page.items]

    assert await ids() == [r.run_id for r in reversed(runs)]
    assert await ids(status=RunStatus.RUNNING) == [runs[3].run_id, runs[1].run_id, runs[0].run_id]
    assert await ids(workflow_name="b") == [runs[4].run_id, runs[1].run_id]
    assert await ids(status=RunStatus.RUNNING, workflow_name="a") == [
        runs[3].run_id,
        runs[0].run_id,
    ]
    assert await ids(status=RunStatus.CANCELLED) == []


async def test_list_sees_status_changes(world: World) -> None:
    run = record(status=RunStatus.RUNNING)
    await world.runs.create(run)
    await world.runs.update_status(run.run_id, RunStatus.COMPLETED, updated_at=5.0)
    running = await world.runs.list(status=RunStatus.RUNNING)
    completed = await world.runs.list(status=RunStatus.COMPLETED)
    assert running.items == []
    assert [r.run_id for r in completed.items] == [run.run_id]


async def test_list_updated_before_finds_quiet_runs(world: World) -> None:
    quiet, busy, other = (record(status=RunStatus.RUNNING, created_at=100.0 + i) for i in range(3))
    for run in (quiet, busy, other):
        await world.runs.create(run)
    await world.runs.update_status(other.run_id, RunStatus.PENDING, updated_at=150.0)
    await world.runs.update_status(busy.run_id, RunStatus.PENDING, updated_at=500.0)
    await world.runs.update_status(busy.run_id, RunStatus.RUNNING, updated_at=500.0)
    found = await world.runs.list(status=RunStatus.RUNNING, updated_before=200.0)
    assert [r.run_id for r in found.items] == [quiet.run_id]
    assert (await world.runs.list(updated_before=100.0)).items == []
    pending = await world.runs.list(status=RunStatus.PENDING, updated_before=200.0)
    assert [r.run_id for r in pending.items] == [other.run_id]
    by_name = await world.runs.list(workflow_name="order", updated_before=160.0, limit=1)
    assert [r.run_id for r in by_name.items] == [other.run_id]
    assert by_name.next_cursor is not None
    rest = await world.runs.list(
        workflow_name="order", updated_before=160.0, cursor=by_name.next_cursor
    )
    assert [r.run_id for r in rest.items] == [quiet.run_id]


async def test_run_records_keep_and_filter_by_deployment(world: World) -> None:
    v1 = replace(record(created_at=100.0), deployment="v1")
    v2 = replace(record(created_at=101.0, status=RunStatus.RUNNING), deployment="v2")
    unpinned = record(created_at=102.0)
    for run in (v1, v2, unpinned):
        await world.runs.create(run)
    got = await world.runs.get(v1.run_id)
    assert got is not None and got.deployment == "v1"
    assert (await world.runs.get(unpinned.run_id)).deployment is None  # type: ignore[union-attr]
    listed = await world.runs.list(deployment="v2")
    assert [r.run_id for r in listed.items] == [v2.run_id]
    assert listed.items[0].deployment == "v2"
    both = await world.runs.list(deployment="v2", status=RunStatus.RUNNING, workflow_name="order")
    assert [r.run_id for r in both.items] == [v2.run_id]
    assert (await world.runs.list(deployment="v3")).items == []


async def test_set_deployment_is_conditional(world: World) -> None:
    run = replace(record(), deployment="v1")
    await world.runs.create(run)
    assert not await world.runs.set_deployment(run.run_id, "v0", "v2")  # not what it names
    assert await world.runs.set_deployment(run.run_id, "v1", "v2")
    assert (await world.runs.get(run.run_id)).deployment == "v2"  # type: ignore[union-attr]
    assert not await world.runs.set_deployment(run.run_id, "v1", "v3")  # lost the race
    unpinned = record()
    await world.runs.create(unpinned)
    assert await world.runs.set_deployment(unpinned.run_id, None, "v2")
    await world.runs.update_status(run.run_id, RunStatus.COMPLETED, updated_at=5.0)
    assert not await world.runs.set_deployment(run.run_id, "v2", "v3")  # ended: final
    with pytest.raises(RunNotFoundError):
        await world.runs.set_deployment(new_id(), None, "v2")


async def test_list_pagination_survives_new_runs(world: World) -> None:
    # Pairs of runs share a created_at, so the run id must break ties consistently.
    runs = [record(f"run_{i:02d}", created_at=1000.0 + i // 2) for i in range(25)]
    for run in runs:
        await world.runs.create(run)
    expected = [r.run_id for r in sorted(runs, key=lambda r: (r.created_at, r.run_id))][::-1]

    seen: list[str] = []
    full_pages = 0
    cursor = None
    for page_number in range(10):
        page = await world.runs.list(limit=10, cursor=cursor)
        assert len(page.items) <= 10
        full_pages += len(page.items) == 10
        seen.extend(r.run_id for r in page.items)
        # Runs started while someone pages through the list (newer than everything listed).
        await world.runs.create(record(created_at=2000.0 + page_number))
        cursor = page.next_cursor
        if cursor is None:
            break

    assert seen == expected
    assert full_pages == 2


async def test_list_pagination_with_filter(world: World) -> None:
    wanted = []
    for i in range(20):
        run = record(workflow_name="wanted" if i % 2 else "other", created_at=500.0 + i)
        await world.runs.create(run)
        if i % 2:
            wanted.append(run.run_id)
    first = await world.runs.list(workflow_name="wanted", limit=4)
    assert first.next_cursor is not None
    second = await world.runs.list(workflow_name="wanted", limit=4, cursor=first.next_cursor)
    assert second.next_cursor is not None
    third = await world.runs.list(workflow_name="wanted", limit=4, cursor=second.next_cursor)
    listed = [r.run_id for page in (first, second, third) for r in page.items]
    assert listed == wanted[::-1]
    # A World may hand out a cursor for the last page as long as it leads to nothing more.
    assert (
        third.next_cursor is None
        or (await world.runs.list(workflow_name="wanted", cursor=third.next_cursor)).items == []
    )


async def test_list_bad_cursor(world: World) -> None:
    with pytest.raises(ValueError, match="invalid cursor"):
        await world.runs.list(cursor="not a cursor!")


# --- hooks --------------------------------------------------------------------------------


async def test_hook_token_held_by_one_owner(world: World) -> None:
    token = new_id("tok")
    owner = HookOwner(token=token, run_id=new_id(), hook_id="hook_0")
    await world.hooks.claim(owner)
    await world.hooks.claim(owner)  # a replay claims again: fine
    assert await world.hooks.lookup(token) == owner

    rival = HookOwner(token=token, run_id=new_id(), hook_id="hook_0")
    with pytest.raises(HookConflictError, match=r"hook token tok_[0-9a-f]{8} is already held") as e:
        await world.hooks.claim(rival)
    assert token not in str(e.value)  # a bearer secret: named by fingerprint only
    same_run_other_hook = HookOwner(token=token, run_id=owner.run_id, hook_id="hook_1")
    with pytest.raises(HookConflictError):
        await world.hooks.claim(same_run_other_hook)
    assert await world.hooks.lookup(token) == owner


async def test_hook_release_only_by_owner(world: World) -> None:
    token = new_id("tok")
    owner = HookOwner(token=token, run_id=new_id(), hook_id="hook_0")
    rival = HookOwner(token=token, run_id=new_id(), hook_id="hook_0")
    await world.hooks.claim(owner)
    await world.hooks.release(rival)
    assert await world.hooks.lookup(token) == owner

    await world.hooks.release(owner)
    assert await world.hooks.lookup(token) is None
    await world.hooks.release(owner)  # already free: no-op

    await world.hooks.claim(rival)
    assert await world.hooks.lookup(token) == rival


async def test_hook_list_pages_through_live_hooks_by_fingerprint(world: World) -> None:
    owners = [
        HookOwner(token=new_id("tok"), run_id=new_id(), hook_id=f"hook_{i}", created_at=100.0 + i)
        for i in range(5)
    ]
    for owner in owners:
        await world.hooks.claim(owner)
    await world.hooks.claim(HookOwner(owners[0].token, owners[0].run_id, "hook_0", created_at=999))
    await world.hooks.release(owners[4])

    seen, cursor = [], None
    for _ in range(20):  # bounded: 4 live hooks, pages of 2
        page = await world.hooks.list(limit=2, cursor=cursor)
        assert len(page.items) <= 2
        seen.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert cursor is None
    by_hook = {entry.hook_id: entry for entry in seen}
    assert sorted(by_hook) == ["hook_0", "hook_1", "hook_2", "hook_3"]  # the released one is gone
    assert len(seen) == 4  # each once
    for owner in owners[:4]:
        entry = by_hook[owner.hook_id]
        assert entry.run_id == owner.run_id
        assert entry.created_at == owner.created_at  # the first claim's time, not the replay's
        assert entry.fingerprint.startswith("tok_") and owner.token not in repr(entry)
    assert (await world.hooks.lookup(owners[1].token)).created_at == 101.0
    with pytest.raises(ValueError, match="invalid cursor"):
        await world.hooks.list(cursor="not a cursor!")


async def test_hook_lookup_unknown(world: World) -> None:
    assert await world.hooks.lookup(new_id("tok")) is None


# --- blobs --------------------------------------------------------------------------------


async def test_blobs(world: World) -> None:
    await world.blobs.put("runs/r1/a", b"one")
    await world.blobs.put("runs/r1/b", b"two")
    await world.blobs.put("runs/r2/a", b"three")
    await world.blobs.put("runs/r1/a", b"one again")
    assert await world.blobs.get("runs/r1/a") == b"one again"
    with pytest.raises(KeyError):
        await world.blobs.get("runs/r1/missing")

    assert await world.blobs.delete_prefix("runs/r1/") == 2
    with pytest.raises(KeyError):
        await world.blobs.get("runs/r1/b")
    assert await world.blobs.get("runs/r2/a") == b"three"
    assert await world.blobs.delete_prefix("runs/r1/") == 0


async def test_blob_binary_round_trip(world: World) -> None:
    data = bytes(range(256)) * 64
    await world.blobs.put("bin", data)
    assert await world.blobs.get("bin") == data


# --- streams ------------------------------------------------------------------------------


async def test_stream_order_resume_and_close(world: World) -> None:
    run_id = new_id()
    indices = [await world.streams.append(run_id, "out", f"chunk {i}".encode()) for i in range(4)]
    assert indices == [0, 1, 2, 3]

    everything = await world.streams.read(run_id, "out")
    assert everything.chunks == [b"chunk 0", b"chunk 1", b"chunk 2", b"chunk 3"]
    assert not everything.closed

    resumed = await world.streams.read(run_id, "out", 2)
    assert (resumed.start, resumed.chunks, resumed.next_index) == (2, [b"chunk 2", b"chunk 3"], 4)
    assert (await world.streams.read(run_id, "out", 4)).chunks == []

    await world.streams.close(run_id, "out")
    await world.streams.close(run_id, "out")
    with pytest.raises(ValueError):
        await world.streams.append(run_id, "out", b"late")
    final = await world.streams.read(run_id, "out", 3)
    assert final.chunks == [b"chunk 3"]
    assert final.closed


async def test_unknown_stream_is_empty_and_open(world: World) -> None:
    read = await world.streams.read(new_id(), "nothing")
    assert (read.chunks, read.closed) == ([], False)


async def test_close_creates_empty_closed_stream(world: World) -> None:
    run_id = new_id()
    await world.streams.close(run_id, "empty")
    read = await world.streams.read(run_id, "empty")
    assert (read.chunks, read.closed) == ([], True)


async def test_stream_names(world: World) -> None:
    run_id = new_id()
    await world.streams.append(run_id, "logs", b"x")
    await world.streams.append(run_id, "progress", b"y")
    await world.streams.append(new_id(), "elsewhere", b"z")
    assert sorted(await world.streams.names(run_id)) == ["logs", "progress"]
    assert await world.streams.names(new_id()) == []


async def test_concurrent_stream_writers_get_distinct_indices(world: World) -> None:
    run_id = new_id()
    chunks = [f"w{i}".encode() for i in range(16)]
    indices = await asyncio.gather(*(world.streams.append(run_id, "s", c) for c in chunks))
    assert sorted(indices) == list(range(16))
    stored = (await world.streams.read(run_id, "s")).chunks
    for index, chunk in zip(indices, chunks, strict=True):
        assert stored[index] == chunk


# --- queue --------------------------------------------------------------------------------


async def test_queue_round_trip_and_delete(world: World) -> None:
    await world.queue.send({"kind": "step", "run_id": "r1", "n": [1, 2]})
    (delivery,) = await world.queue.receive(visibility_timeout=30)
    assert delivery.body == {"kind": "step", "run_id": "r1", "n": [1, 2]}
    assert delivery.receive_count == 1
    await world.queue.delete(delivery)
    await world.queue.delete(delivery)  # a second delete is harmless
    assert await world.queue.receive() == []


async def test_queue_delay(world: World, clock: ManualClock) -> None:
    await world.queue.send({"n": 1}, delay=60)
    assert await world.queue.receive() == []
    clock.advance(59)
    assert await world.queue.receive() == []
    clock.advance(1)
    (delivery,) = await world.queue.receive()
    assert delivery.body == {"n": 1}


async def test_queue_visibility_order(world: World, clock: ManualClock) -> None:
    await world.queue.send({"n": "late"}, delay=10)
    await world.queue.send({"n": "first"})
    await world.queue.send({"n": "second"})
    await world.queue.send({"n": "mid"}, delay=5)
    clock.advance(10)
    got = []
    for _ in range(4):
        got.extend(d.body["n"] for d in await world.queue.receive(max_messages=1))
    assert got == ["first", "second", "mid", "late"]


async def test_queue_max_messages(world: World) -> None:
    for i in range(5):
        await world.queue.send({"n": i})
    first = await world.queue.receive(max_messages=3)
    rest = await world.queue.receive(max_messages=10)
    assert len(first) == 3
    assert sorted(d.body["n"] for d in first + rest) == [0, 1, 2, 3, 4]


async def test_queue_redelivers_after_visibility_timeout(world: World, clock: ManualClock) -> None:
    await world.queue.send({"n": 1})
    (first,) = await world.queue.receive(visibility_timeout=30)
    assert await world.queue.receive(visibility_timeout=30) == []
    clock.advance(29)
    assert await world.queue.receive(visibility_timeout=30) == []
    clock.advance(1)
    (second,) = await world.queue.receive(visibility_timeout=30)
    assert second.body == {"n": 1}
    assert second.receive_count == 2
    assert second.receipt != first.receipt

    await world.queue.delete(first)  # stale receipt: the message stays
    clock.advance(30)
    (third,) = await world.queue.receive()
    assert third.receive_count == 3
    await world.queue.delete(third)
    clock.advance(60)
    assert await world.queue.receive() == []


async def test_queue_change_visibility(world: World, clock: ManualClock) -> None:
    await world.queue.send({"n": 1})
    (delivery,) = await world.queue.receive(visibility_timeout=30)
    await world.queue.change_visibility(delivery, 0)
    (again,) = await world.queue.receive(visibility_timeout=30)
    assert again.receive_count == 2

    await world.queue.change_visibility(again, 120)  # extend: still working on it
    clock.advance(60)
    assert await world.queue.receive() == []
    clock.advance(60)
    (third,) = await world.queue.receive()
    assert third.receive_count == 3


async def test_queue_idempotency_key(world: World) -> None:
    await world.queue.send({"n": 1}, idempotency_key="step-a")
    await world.queue.send({"n": 2}, idempotency_key="step-a")  # still waiting: dropped
    await world.queue.send({"n": 3}, idempotency_key="step-b")
    deliveries = await world.queue.receive(max_messages=10)
    assert sorted(d.body["n"] for d in deliveries) == [1, 3]

    # In flight now: the same key is new work (e.g. the step's next attempt).
    await world.queue.send({"n": 4}, idempotency_key="step-a")
    (fresh,) = await world.queue.receive(max_messages=10)
    assert fresh.body == {"n": 4}


async def test_queue_idempotency_key_applies_to_delayed_messages(
    world: World, clock: ManualClock
) -> None:
    await world.queue.send({"n": 1}, delay=30, idempotency_key="wake")
    await world.queue.send({"n": 2}, idempotency_key="wake")
    clock.advance(30)
    deliveries = await world.queue.receive(max_messages=10)
    assert [d.body for d in deliveries] == [{"n": 1}]


async def test_queue_body_is_a_copy(world: World) -> None:
    body = {"items": [1, 2]}
    await world.queue.send(body)
    body["items"].append(3)
    (delivery,) = await world.queue.receive()
    assert delivery.body == {"items": [1, 2]}


async def test_queue_dead_letters_after_max_receives(world: World, clock: ManualClock) -> None:
    await world.queue.send({"n": "poison"})
    counts = []
    for _ in range(world.queue.max_receives):
        (delivery,) = await world.queue.receive(visibility_timeout=10)
        counts.append(delivery.receive_count)
        clock.advance(10)
    assert counts == list(range(1, world.queue.max_receives + 1))
    assert await world.queue.receive(visibility_timeout=10) == []
    clock.advance(3600)
    assert await world.queue.receive(visibility_timeout=10) == []
    assert world.queue.dead_letters == [{"n": "poison"}]
    assert world.queue.redrive() == 1
    (revived,) = await world.queue.receive()
    assert (revived.body, revived.receive_count) == ({"n": "poison"}, 1)


async def test_a_clock_timed_queue_says_when_its_next_message_is_due(
    world: World, clock: ManualClock
) -> None:
    """Every World under test times its queue by the World's clock (the emulator's AWS World
    included), so the emulator can skip a virtual clock ahead to `next_visible_at()`."""
    assert world.queue.next_visible_at() is None
    await world.queue.send({"n": 1}, delay=7200)
    assert world.queue.next_visible_at() == clock.time() + 7200
    clock.advance(7200)
    (delivery,) = await world.queue.receive(visibility_timeout=60)
    assert world.queue.next_visible_at() == clock.time() + 60
    await world.queue.delete(delivery)
    assert world.queue.next_visible_at() is None


async def test_queue_long_poll_wakes_on_send(world: World) -> None:
    started = time.monotonic()
    receiver = asyncio.create_task(world.queue.receive(wait_seconds=30))
    await asyncio.sleep(0.2)
    assert not receiver.done()
    await world.queue.send({"n": "wake"})
    deliveries = await asyncio.wait_for(receiver, timeout=10)
    assert [d.body for d in deliveries] == [{"n": "wake"}]
    assert time.monotonic() - started < 8  # far below the 30 s long poll, robust to load


async def test_queue_long_poll_times_out_empty(world: World) -> None:
    started = time.monotonic()
    assert await world.queue.receive(wait_seconds=0.3) == []
    assert time.monotonic() - started >= 0.25


# --- keys ---------------------------------------------------------------------------------


async def test_data_key_round_trip(world: World) -> None:
    run_id = new_id()
    plaintext, encrypted = await world.keys.generate_data_key(run_id)
    assert len(plaintext) == 32
    assert plaintext not in encrypted
    assert await world.keys.decrypt_data_key(run_id, encrypted) == plaintext


async def test_data_key_bound_to_its_run(world: World) -> None:
    run_id, other = new_id(), new_id()
    _, encrypted = await world.keys.generate_data_key(run_id)
    with pytest.raises(CorruptedDataError):
        await world.keys.decrypt_data_key(other, encrypted)
    tampered = encrypted[:-1] + bytes([encrypted[-1] ^ 1])
    with pytest.raises(CorruptedDataError):
        await world.keys.decrypt_data_key(run_id, tampered)


async def test_fresh_data_keys_differ(world: World) -> None:
    run_id = new_id()
    first, wrapped_first = await world.keys.generate_data_key(run_id)
    second, wrapped_second = await world.keys.generate_data_key(run_id)
    assert first != second
    assert wrapped_first != wrapped_second


async def test_attributes_are_kept_and_listed_without_reading_every_record(world: World) -> None:
    runs = [record(created_at=200.0 + i) for i in range(4)]
    for run in runs:
        await world.runs.create(run)
    assert await world.runs.set_attributes(runs[0].run_id, {"customer": "c-7", "stage": "new"})
    newer = {"customer": "c-7", "stage": "paid"}
    assert await world.runs.set_attributes(runs[0].run_id, newer, version=5)
    older = {"customer": "c-1", "stage": "old"}  # a slow host's older copy changes nothing
    assert not await world.runs.set_attributes(runs[0].run_id, older, version=3)
    await world.runs.set_attributes(runs[2].run_id, {"customer": "c-7"})
    await world.runs.set_attributes(runs[3].run_id, {"customer": "c-8", "stage": "paid"})
    fetched = await world.runs.get(runs[0].run_id)
    assert fetched is not None and fetched.attributes == {"customer": "c-7", "stage": "paid"}
    assert (await world.runs.get(runs[1].run_id)).attributes == {}  # type: ignore[union-attr]

    async def ids(**attributes: str) -> list[str]:
        page = await world.runs.list(attributes=attributes)
        return [r.run_id for r in page.items]

    assert await ids(customer="c-7") == [runs[2].run_id, runs[0].run_id]
    assert await ids(stage="paid") == [runs[3].run_id, runs[0].run_id]
    assert await ids(stage="new") == []  # replaced by a later value
    assert await ids(customer="c-1") == []
    assert await ids(customer="c-7", stage="paid") == [runs[0].run_id]
    with pytest.raises(RunNotFoundError):
        await world.runs.set_attributes(new_id(), {"customer": "c-1"})
