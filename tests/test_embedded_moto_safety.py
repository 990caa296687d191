"""The AWS World on an in-process moto (what `Emulator(world="aws")` runs on) under real
thread races: moto's in-process backends are not thread-safe, so every call into them must be
serialized (local_emulator/aws/moto_lock.py). With a tiny thread-switch interval the races below
gave several "winners" per position, and `dictionary changed size during iteration` in a
Query, before that lock existed.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator

import pytest

from adapters.aws import AwsWorld
from adapters.aws.clients import is_condition_failure
from local_emulator.aws.embedded import start_embedded_world
from runtime.engine.events import Event, EventType, RunStatus
from runtime.errors import AppendConflictError, HookConflictError
from runtime.world import HookOwner, RunRecord

from .conftest import ManualClock

ROUNDS = 200
WRITERS = 8


def event(type_: str = EventType.STEP_CREATED, **attrs: object) -> Event:
    return Event(
        type=type_,
        event_id=f"evt_{uuid.uuid4().hex}",
        created_at=1_700_000_000.0,
        correlation_id=f"step_{uuid.uuid4().hex}",
        attrs=attrs,
        payload=b"ciphertext",
    )


@pytest.fixture
async def worlds() -> AsyncIterator[list[AwsWorld]]:
    """An embedded World and `WRITERS - 1` more on its resources: as many processes' worth of
    thread pools and (cold) log caches, all calling the one in-process moto."""
    first = await asyncio.to_thread(start_embedded_world, ManualClock())
    made = [first] + [AwsWorld(first.config, first.clock) for _ in range(WRITERS - 1)]
    try:
        yield made
    finally:
        for world in reversed(made):
            await world.close()


async def test_racing_log_appends_have_exactly_one_winner_each_round(
    worlds: list[AwsWorld], fast_switching: None
) -> None:
    several: list[tuple[int, int]] = []
    for round_ in range(ROUNDS):
        run_id = f"run_{uuid.uuid4().hex}"
        batches = [[event(writer=i, round=round_)] for i in range(WRITERS)]

        async def append(world: AwsWorld, batch: list[Event], run_id: str = run_id) -> bool:
            try:
                await world.log.append(run_id, 0, batch)
            except AppendConflictError:
                return False
            return True

        won = await asyncio.gather(*(append(w, b) for w, b in zip(worlds, batches, strict=True)))
        winners = [i for i, ok in enumerate(won) if ok]
        if len(winners) != 1:
            several.append((round_, len(winners)))
            continue
        stored = await worlds[0].log.read(run_id)
        assert [e.event_id for e in stored] == [batches[winners[0]][0].event_id]
    assert several == [], f"rounds without exactly one winner (round, winners): {several}"


async def test_racing_hook_claims_have_exactly_one_owner_each_round(
    worlds: list[AwsWorld], fast_switching: None
) -> None:
    several: list[tuple[int, int]] = []
    for round_ in range(ROUNDS):
        token = f"token-{uuid.uuid4().hex}"
        owners = [HookOwner(token=token, run_id=f"run_{i}", hook_id="hook") for i in range(WRITERS)]

        async def claim(world: AwsWorld, owner: HookOwner) -> bool:
            try:
                await world.hooks.claim(owner)
            except HookConflictError:
                return False
            return True

        won = await asyncio.gather(*(claim(w, o) for w, o in zip(worlds, owners, strict=True)))
        winners = [i for i, ok in enumerate(won) if ok]
        if len(winners) != 1:
            several.append((round_, len(winners)))
            continue
        holder = await worlds[0].hooks.lookup(token)
        assert holder == owners[winners[0]]
    assert several == [], f"rounds without exactly one owner (round, owners): {several}"


async def test_raw_clients_from_several_threads_are_serialized_too(
    worlds: list[AwsWorld], fast_switching: None
) -> None:
    """`emu.client("dynamodb")` hands users a plain boto3 client; their own threads racing
    conditional puts through it get exactly one winner as well."""
    client = worlds[0].aws.client("dynamodb")
    table = worlds[0].config.hooks_table
    several: list[tuple[int, int]] = []
    for round_ in range(ROUNDS // 2):
        key = f"raw-{uuid.uuid4().hex}"
        won: list[int] = []
        start = threading.Barrier(WRITERS)

        def put(i: int, key: str = key, won: list[int] = won, start: threading.Barrier = start):
            start.wait()
            try:
                client.put_item(
                    TableName=table,
                    Item={"h": {"S": key}, "run_id": {"S": str(i)}, "hook_id": {"S": "x"}},
                    ConditionExpression="attribute_not_exists(h)",
                )
            except Exception as error:
                if not is_condition_failure(error):
                    raise
                return
            won.append(i)

        threads = [threading.Thread(target=put, args=(i,)) for i in range(WRITERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        if len(won) != 1:
            several.append((round_, len(won)))
    assert several == [], f"rounds without exactly one winner (round, winners): {several}"


async def test_purging_runs_while_others_write_neither_crashes_nor_leaves_data(
    worlds: list[AwsWorld], fast_switching: None
) -> None:
    """`purge_run` queries a table other threads are writing; on an unserialized moto that
    Query iterated a dict being resized ("dictionary changed size during iteration")."""
    world = worlds[0]
    ended = [f"run_{uuid.uuid4().hex}" for _ in range(30)]
    for run_id in ended:
        await world.runs.create(
            RunRecord(run_id, "order", RunStatus.COMPLETED, 1_700_000_000.0, 1_700_000_000.0)
        )
        await world.log.append(run_id, 0, [event(EventType.RUN_CREATED) for _ in range(3)])
        await world.log.append(run_id, 3, [event(EventType.RUN_COMPLETED)])
        await world.streams.append(run_id, "out", b"chunk")
        await world.blobs.put(f"{run_id}/payload", b"blob")
    stop = asyncio.Event()

    async def keep_writing(writer: AwsWorld) -> int:
        written = 0
        while not stop.is_set():
            await writer.log.append(f"live_{uuid.uuid4().hex}", 0, [event()])
            written += 1
        return written

    writers = [asyncio.create_task(keep_writing(w)) for w in worlds[1:]]
    try:
        await asyncio.gather(*(worlds[i % WRITERS].purge_run(r) for i, r in enumerate(ended)))
    finally:
        stop.set()
        written = await asyncio.gather(*writers)
    assert sum(written) > 0
    cold = AwsWorld(world.config, world.clock)  # reads storage, not a cache of what was purged
    try:
        for run_id in ended:
            assert await cold.runs.get(run_id) is None
            assert await cold.log.read(run_id) == []
            assert await cold.streams.names(run_id) == []
    finally:
        await cold.close()


async def test_a_call_in_flight_when_a_world_closes_never_reaches_the_next_one() -> None:
    """One process, one emulator after another (a test suite): the previous World's poller
    had a ReceiveMessage in flight when it closed. Once moto stopped, that call went out to
    the network, failed, and botocore retried it seconds later into the next World's moto,
    whose queue has the same URL: it took the next run's first message for 30 s (the
    visibility timeout), and that run sat pending with nothing running (CI saw it once).
    Here the stray call is held before it reaches moto until the next World has sent."""
    gate = threading.Event()
    message = {"kind": "workflow", "run_id": "run_next"}
    first = start_embedded_world(ManualClock())

    def hold(**_: object) -> None:  # returns None: botocore would take a value as the answer
        gate.wait(10)

    first.aws.sqs.meta.events.register("before-call.sqs.ReceiveMessage", hold)
    stray = asyncio.create_task(first.queue.receive())
    await asyncio.sleep(0.2)  # its ReceiveMessage is in flight, held at the gate
    closing = asyncio.create_task(first.close())
    await asyncio.wait([closing], timeout=0.5)
    second = None
    if closing.done():  # closed with the call in flight: the next World starts meanwhile
        second = start_embedded_world(ManualClock())
        await second.queue.send(message)
    gate.set()
    await closing
    await asyncio.gather(stray, return_exceptions=True)
    if second is None:
        second = start_embedded_world(ManualClock())
        await second.queue.send(message)
    try:
        received = await second.queue.receive(wait_seconds=1)
        assert [d.body for d in received] == [message]
    finally:
        await second.close()
