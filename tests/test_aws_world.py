"""Behaviour specific to the AWS World: what its DynamoDB items, S3 objects and SQS messages
look like, and what it costs in AWS calls. The protocol itself is checked by the conformance
suite; these run on moto in-process and, where the wire matters, on the moto server too.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from adapters.aws import AwsConfig, AwsWorld
from adapters.aws.log import MAX_ITEM_BYTES
from adapters.aws.log_cache import LogCache
from adapters.aws.runs import shard_of
from runtime.engine.events import Event, EventType, RunStatus
from runtime.errors import (
    AppendConflictError,
    CorruptedDataError,
    HookConflictError,
    RunTerminalError,
)
from runtime.world import HookOwner, RealClock, RunRecord

from .conftest import ManualClock, aws_inprocess_world, aws_server_world

Factory = Callable[..., Awaitable[AwsWorld]]
KINDS = {"inprocess": aws_inprocess_world, "server": aws_server_world}


class Maker:
    """`await make(clock=..., **config options)`: AWS Worlds, closed at the test's end."""

    def __init__(self, factory: Factory, clock: ManualClock) -> None:
        self.factory = factory
        self.clock = clock
        self.made: list[AwsWorld] = []

    async def __call__(self, clock: Any = None, **options: Any) -> AwsWorld:
        world = await self.factory(clock or self.clock, **options)
        world.reset_calls()
        self.made.append(world)
        return world

    def production(self, world: AwsWorld) -> AwsWorld:
        """The production World on `world`'s resources: SQS keeps the time, and no state is
        kept in process (the emulator's queue does both for a sole consumer)."""
        made = AwsWorld(world.config)
        self.made.append(made)
        return made

    async def close(self) -> None:
        for world in reversed(self.made):
            await world.close()


@pytest.fixture(params=list(KINDS))
async def make_world(request: pytest.FixtureRequest, clock: ManualClock) -> AsyncIterator[Maker]:
    """AWS Worlds on moto in-process and on the moto server."""
    if request.param == "server":
        request.getfixturevalue("moto_server")
    maker = Maker(KINDS[request.param], clock)
    yield maker
    await maker.close()


@pytest.fixture
async def make_local_world(clock: ManualClock) -> AsyncIterator[Maker]:
    """AWS Worlds on moto in-process only (tests that wait in real time)."""
    maker = Maker(aws_inprocess_world, clock)
    yield maker
    await maker.close()


@pytest.fixture
async def world(make_world: Maker) -> AwsWorld:
    return await make_world()


def twin(world: AwsWorld) -> AwsWorld:
    """A second World object on the same resources: another process, with a cold cache."""
    return type(world)(world.config, world.clock)


def new_id(prefix: str = "run") -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def event(
    type_: str = EventType.STEP_COMPLETED, payload: bytes | None = b"ct", **attrs: Any
) -> Event:
    return Event(type_, new_id("evt"), 1_700_000_000.5, new_id("step"), attrs, payload)


def raw_item(world: AwsWorld, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
    return world.aws.dynamodb.get_item(TableName=table, Key=key).get("Item")


def scan(world: AwsWorld, table: str) -> list[dict[str, Any]]:
    return world.aws.dynamodb.scan(TableName=table)["Items"]


def log_key(run_id: str, position: int) -> dict[str, Any]:
    return {"run_id": {"S": run_id}, "pos": {"N": str(position)}}


# --- configuration ----------------------------------------------------------------------------


def test_config_from_env() -> None:
    config = AwsConfig.from_env(
        {
            "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "STEPLANE_PREFIX": "shop",
            "STEPLANE_QUEUE": "https://sqs.example/123/work",
            "STEPLANE_MAX_RECEIVES": "7",
        }
    )
    assert (config.endpoint_url, config.region) == ("http://127.0.0.1:4566", "eu-west-1")
    assert (config.events_table, config.runs_table, config.bucket) == (
        "shop-events",
        "shop-runs",
        "shop-payloads",
    )
    assert (config.queue, config.dead_letter_queue) == ("https://sqs.example/123/work", "shop-dead")
    assert (config.kms_key, config.max_receives) == ("alias/shop", 7)
    assert config.limits.inline_payload_bytes == 32 * 1024
    assert config.limits.max_batch_bytes == 256 * 1024
    with pytest.raises(ValueError, match="STEPLANE_LIST_SHARDS"):
        AwsConfig.from_env({"STEPLANE_LIST_SHARDS": "many"})


def test_world_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    from runtime.config import world_from_env

    monkeypatch.setenv("STEPLANE_WORLD", "aws")
    monkeypatch.setenv("STEPLANE_PREFIX", "envtest")
    world = world_from_env()
    try:
        assert isinstance(world, AwsWorld)
        assert world.config.runs_table == "envtest-runs"
        assert isinstance(world.clock, RealClock)
    finally:
        asyncio.run(world.close())


# --- event log --------------------------------------------------------------------------------


async def test_warm_incremental_reads_make_no_query(world: AwsWorld) -> None:
    run_id = new_id()
    await world.log.append(run_id, 0, [event(EventType.RUN_CREATED), event()])
    other = twin(world)  # another process appending to the same run
    try:
        await world.log.read(run_id)
        await other.log.read(run_id)
        for position in range(2, 30, 6):
            world.reset_calls()
            assert await world.log.read(run_id, position) == []
            assert world.calls == {"dynamodb.GetItem": 1}  # the known end: still free

            mine = [event(n=position), event(n=position + 1), event(n=position + 2)]
            world.reset_calls()
            await world.log.append(run_id, position, mine)
            assert world.calls == {"dynamodb.PutItem": 1}
            world.reset_calls()
            tail = await world.log.read(run_id, position)
            assert [e.event_id for e in tail] == [e.event_id for e in mine]
            assert world.calls == {"dynamodb.GetItem": 1}  # own batch from memory

            theirs = [event(n=position + 3), event(n=position + 4), event(n=position + 5)]
            await other.log.append(run_id, position + 3, theirs)
            world.reset_calls()
            tail = await world.log.read(run_id, position + 1)  # from inside a batch too
            assert [e.event_id for e in tail] == [e.event_id for e in [*mine[1:], *theirs]]
            assert world.calls == {"dynamodb.GetItem": 2}  # their batch, and nothing after it
    finally:
        await other.close()


async def test_one_item_per_batch(world: AwsWorld) -> None:
    run_id = new_id()
    await world.log.append(run_id, 0, [event(n=i) for i in range(5)])
    await world.log.append(run_id, 5, [event(n=5)])
    items = scan(world, world.config.events_table)
    assert sorted((int(i["pos"]["N"]), int(i["n"]["N"])) for i in items) == [(0, 5), (5, 1)]


async def test_cold_reads_find_batches_by_position(world: AwsWorld) -> None:
    run_id = new_id()
    await world.log.append(run_id, 0, [event(n=i) for i in range(4)])
    await world.log.append(run_id, 4, [event(n=i) for i in range(4, 7)])
    other = twin(world)
    try:
        # Inside the second batch: no item there; one Query finds the batch that holds it.
        tail = await other.log.read(run_id, 5)
        assert [e.attrs["n"] for e in tail] == [5, 6]
        assert [e.seq for e in tail] == [5, 6]
        assert other.calls.get("dynamodb.Query") == 1
        other.reset_calls()
        # Now it knows that batch: reads inside it are warm again.
        assert [e.attrs["n"] for e in await other.log.read(run_id, 6)] == [6]
        assert [e.attrs["n"] for e in await other.log.read(run_id, 4)] == [4, 5, 6]
        assert "dynamodb.Query" not in other.calls
        # Inside the first batch, which it has not seen: one more Query.
        assert [e.attrs["n"] for e in await other.log.read(run_id, 2)] == [2, 3, 4, 5, 6]
        assert other.calls["dynamodb.Query"] == 1
        assert await other.log.read(run_id, 7) == []
        assert await other.log.read(run_id, 50) == []
    finally:
        await other.close()


async def test_cold_appender_checks_positions(world: AwsWorld) -> None:
    run_id = new_id()
    await world.log.append(run_id, 0, [event(), event(), event()])
    other = twin(world)
    try:
        with pytest.raises(AppendConflictError):
            await other.log.append(run_id, 1, [event()])  # inside the first batch
        another = twin(world)
        with pytest.raises(ValueError, match="skips past the end"):
            await another.log.append(run_id, 4, [event()])
        await another.close()
        await other.log.append(run_id, 3, [event(n=3)])
        # The first World's cursor is stale: its append at 3 loses, at 4 it wins.
        with pytest.raises(AppendConflictError):
            await world.log.append(run_id, 3, [event()])
        await world.log.append(run_id, 4, [event(n=4)])
        assert [e.seq for e in await other.log.read(run_id)] == [0, 1, 2, 3, 4]
    finally:
        await other.close()


async def test_long_reads_switch_to_query(world: AwsWorld) -> None:
    run_id = new_id()
    for position in range(40):
        await world.log.append(run_id, position, [event(n=position)])
    other = twin(world)
    try:
        stored = await other.log.read(run_id)
        assert [e.attrs["n"] for e in stored] == list(range(40))
        assert other.calls["dynamodb.GetItem"] <= 16
        assert other.calls["dynamodb.Query"] == 1
    finally:
        await other.close()


async def test_sealed_log_refuses_writers_that_never_saw_the_end(world: AwsWorld) -> None:
    run_id = new_id()
    await world.log.append(run_id, 0, [event(EventType.RUN_CREATED)])
    stale = twin(world)
    try:
        await stale.log.read(run_id)  # believes the log has one event
        await world.log.append(run_id, 1, [event(), event(EventType.RUN_COMPLETED)])
        # One write ends the log: the terminal batch's own flag, no seal item after it.
        assert raw_item(world, world.config.events_table, log_key(run_id, 3)) is None

        with pytest.raises(AppendConflictError):
            await stale.log.append(run_id, 1, [event()])
        fresh = twin(world)
        with pytest.raises(RunTerminalError) as raised:
            await fresh.log.append(run_id, 3, [event(EventType.HOOK_CREATED)])
        assert raised.value.run_id == run_id
        await fresh.close()
        assert len(await stale.log.read(run_id)) == 3
    finally:
        await stale.close()


async def test_a_terminal_batch_ends_the_log_for_every_process(world: AwsWorld) -> None:
    run_id = new_id()
    await world.log.append(run_id, 0, [event(EventType.RUN_CREATED), event(EventType.RUN_FAILED)])
    reader = twin(world)
    try:
        assert len(await reader.log.read(run_id)) == 2
        reads = reader.calls["dynamodb.GetItem"]
        assert len(await reader.log.read(run_id)) == 2  # an ended log it has seen: no call
        assert reader.calls["dynamodb.GetItem"] == reads
        with pytest.raises(RunTerminalError):  # knows the end from its read
            await reader.log.append(run_id, 2, [event()])
        late = twin(world)  # knows nothing: learns the end from the batch before position 2
        with pytest.raises(RunTerminalError):
            await late.log.append(run_id, 2, [event()])
        await late.close()
    finally:
        await reader.close()
    assert raw_item(world, world.config.events_table, log_key(run_id, 2)) is None


async def test_a_seal_item_of_an_earlier_version_still_ends_the_log(world: AwsWorld) -> None:
    run_id = new_id()
    await world.log.append(run_id, 0, [event(EventType.RUN_CREATED), event(EventType.RUN_FAILED)])
    world.aws.dynamodb.put_item(
        TableName=world.config.events_table,
        Item={"run_id": {"S": run_id}, "pos": {"N": "2"}, "seal": {"BOOL": True}},
    )
    other = twin(world)
    try:
        assert len(await other.log.read(run_id)) == 2
        with pytest.raises(RunTerminalError):
            await other.log.append(run_id, 2, [event()])
    finally:
        await other.close()


async def test_oversized_batch_goes_to_s3(world: AwsWorld) -> None:
    run_id = new_id()
    # Each payload is under the inline limit, the batch over the item budget.
    batch = [event(payload=bytes([i]) * 30_000, n=i) for i in range(14)]
    await world.log.append(run_id, 0, batch)
    item = raw_item(world, world.config.events_table, log_key(run_id, 0))
    assert item is not None and "ev" not in item
    key = item["ref"]["S"]
    assert key.startswith(f"{run_id}/")
    assert world.aws.s3.head_object(Bucket=world.config.bucket, Key=key)["ContentLength"] > (
        MAX_ITEM_BYTES
    )
    other = twin(world)
    try:
        assert await other.log.read(run_id) == [e.at(i) for i, e in enumerate(batch)]
    finally:
        await other.close()
    for stored in scan(world, world.config.events_table):
        assert len(stored.get("ev", {}).get("B", b"")) < MAX_ITEM_BYTES


async def test_batch_over_the_write_limit_is_refused(make_world: Factory) -> None:
    world = await make_world()
    limit = world.limits.max_payload_bytes
    with pytest.raises(ValueError, match="limit of one log write"):
        await world.log.append(new_id(), 0, [event(payload=b"x" * (limit + 1))])
    assert scan(world, world.config.events_table) == []


async def test_corrupted_item_is_reported_with_its_run(world: AwsWorld) -> None:
    run_id = new_id()
    await world.log.append(run_id, 0, [event()])
    world.aws.dynamodb.update_item(
        TableName=world.config.events_table,
        Key=log_key(run_id, 0),
        UpdateExpression="SET ev = :b",
        ExpressionAttributeValues={":b": {"B": b"garbage"}},
    )
    other = twin(world)
    try:
        with pytest.raises(CorruptedDataError, match=run_id):
            await other.log.read(run_id)
    finally:
        await other.close()


def test_log_memory_is_bounded_but_keeps_boundaries() -> None:
    cache = LogCache(max_bytes=16 * 1024)  # a batch may take an eighth of it
    for n in range(9):
        cache.batch(f"run_{n}", 0, [event(payload=b"x" * 700).at(0), event().at(1)])
    assert cache.cached("run_0", 0) is None  # the least recently used run's batches went
    assert cache.cached("run_8", 0) is not None
    assert cache.read_from("run_0", 1) == 0  # ...but not what it knows of its shape
    assert cache.facts("run_0") == (2, False)
    copy = cache.cached("run_8", 0)
    assert copy is not None
    copy[0].attrs["edited"] = True  # type: ignore[index]
    assert "edited" not in cache.cached("run_8", 0)[0].attrs  # type: ignore[index]


# --- runs -------------------------------------------------------------------------------------


async def test_listing_is_sharded_and_merged(make_world: Factory) -> None:
    world = await make_world(list_shards=4)
    runs = [
        RunRecord(f"run_{i:03d}", "a" if i % 3 else "b", RunStatus.RUNNING, 100.0 + i, 100.0 + i)
        for i in range(30)
    ]
    for record in runs:
        await world.runs.create(record)
    items = scan(world, world.config.runs_table)
    assert {item["sp"]["S"] for item in items} == {f"running#{n}" for n in range(4)}
    for item in items:
        assert item["sp"]["S"] == f"running#{shard_of(item['run_id']['S'], 4)}"

    world.reset_calls()
    seen: list[str] = []
    cursor = None
    while True:
        page = await world.runs.list(status=RunStatus.RUNNING, limit=7, cursor=cursor)
        seen.extend(r.run_id for r in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [r.run_id for r in reversed(runs)]
    assert world.calls["dynamodb.Query"] == 4 * 5  # every shard, for each of 5 pages
    assert "dynamodb.Scan" not in world.calls

    listed = await world.runs.list(workflow_name="b", status=RunStatus.RUNNING, limit=100)
    assert [r.run_id for r in listed.items] == [
        r.run_id for r in reversed(runs) if r.workflow_name == "b"
    ]


async def test_run_record_round_trip(world: AwsWorld) -> None:
    record = RunRecord(
        new_id(),
        "wf",
        RunStatus.PENDING,
        1_700_000_000.123456,
        1_700_000_000.123456,
        parent_run_id=new_id(),
        encrypted_data_key=bytes(range(200)),
    )
    await world.runs.create(record)
    assert await world.runs.get(record.run_id) == record
    stored = raw_item(world, world.config.runs_table, {"run_id": {"S": record.run_id}})
    assert stored is not None and stored["edk"] == {"B": bytes(range(200))}


# --- hooks ------------------------------------------------------------------------------------


async def test_hook_tokens_are_stored_hashed(world: AwsWorld) -> None:
    token = f"approve:{uuid.uuid4().hex}"
    owner = HookOwner(token, new_id(), "hook_1")
    await world.hooks.claim(owner)
    items = scan(world, world.config.hooks_table)
    (item,) = [i for i in items if i["h"]["S"] != "#hook-token-key"]
    # a keyed digest: a plain hash of a guessable token would be reversed by guessing
    assert item["h"]["S"] == await world.hooks.digest(token)
    assert item["h"]["S"] != hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr(items)
    assert await world.hooks.lookup(token) == owner
    with pytest.raises(HookConflictError):
        await world.hooks.claim(HookOwner(token, new_id(), "hook_1"))
    await world.hooks.release(owner)
    assert [i["h"]["S"] for i in scan(world, world.config.hooks_table)] == ["#hook-token-key"]


# --- blobs ------------------------------------------------------------------------------------


async def test_large_blob_uses_multipart_upload(world: AwsWorld) -> None:
    data = uuid.uuid4().bytes * (10 * 1024 * 1024 // 16)  # 10 MiB
    await world.blobs.put("run_x/big", data)
    assert world.calls["s3.CreateMultipartUpload"] == 1
    assert world.calls["s3.UploadPart"] == 2
    assert world.calls["s3.CompleteMultipartUpload"] == 1
    assert await world.blobs.get("run_x/big") == data
    assert await world.blobs.delete_prefix("run_x/") == 1


async def test_delete_prefix_pages(
    make_local_world: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("adapters.aws.blobs.LIST_PAGE", 10)
    world = await make_local_world()
    for i in range(25):
        await world.blobs.put(f"run_y/{i}", b"x")
    await world.blobs.put("run_z/0", b"x")
    world.reset_calls()
    assert await world.blobs.delete_prefix("run_y/") == 25
    assert world.calls == {"s3.ListObjectsV2": 3, "s3.DeleteObjects": 3}
    assert await world.blobs.get("run_z/0") == b"x"


# --- streams ----------------------------------------------------------------------------------


async def test_large_chunks_go_to_s3_and_cold_writers_find_the_end(world: AwsWorld) -> None:
    run_id = new_id()
    big = b"b" * (world.limits.inline_payload_bytes + 1)
    assert [await world.streams.append(run_id, "out", bytes([i])) for i in range(11)] == list(
        range(11)
    )
    assert await world.streams.append(run_id, "out", big) == 11
    other = twin(world)
    try:
        other.reset_calls()
        assert await other.streams.append(run_id, "out", b"late") == 12
        # 0, 1, 3, 7, 15 (missing), then bisect 11, 13 (missing), 12 (missing) and the put.
        assert other.calls["dynamodb.GetItem"] <= 8
        read = await other.streams.read(run_id, "out", 10)
        assert read.chunks == [bytes([10]), big, b"late"]
        chunk_items = [i for i in scan(world, world.config.streams_table) if "ref" in i]
        assert len(chunk_items) == 1 and chunk_items[0]["ref"]["S"].startswith(f"{run_id}/")

        await other.streams.close(run_id, "out")
        with pytest.raises(ValueError, match="closed"):
            await world.streams.append(run_id, "out", b"after close")
        assert (await world.streams.read(run_id, "out", 13)).closed
        assert (await world.streams.read(run_id, "out", 40)).closed
        world.reset_calls()
        assert await world.streams.names(run_id) == ["out"]
        assert world.calls == {"dynamodb.GetItem": 1}
    finally:
        await other.close()


async def test_a_reader_past_the_end_never_misses_chunks_written_and_closed_meanwhile(
    world: AwsWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race behind a reader that got [0] of [0, 1, 2]: its scan from index 1 found
    nothing, the writer then wrote 1 and 2 and closed, and the registry read that followed
    said "closed": the reader ended without 1 and 2. Here the writer runs exactly there."""
    run_id, streams = new_id(), world.streams
    await streams.append(run_id, "out", b"0")
    registry = streams._registry

    def writer_finishes_between_scan_and_registry(rid: str) -> dict:
        monkeypatch.setattr(streams, "_registry", registry)
        streams._append_sync(run_id, "out", b"1")
        streams._append_sync(run_id, "out", b"2")
        streams._close_sync(run_id, "out")
        return registry(rid)

    monkeypatch.setattr(streams, "_registry", writer_finishes_between_scan_and_registry)
    page = await streams.read(run_id, "out", 1)
    assert (page.chunks, page.closed) == ([b"1", b"2"], True)


# --- retention --------------------------------------------------------------------------------


async def test_purge_run_deletes_everything_an_ended_run_left(world: AwsWorld) -> None:
    run_id = new_id()
    keep = new_id()
    await world.runs.create(RunRecord(run_id, "wf", RunStatus.RUNNING, 1.0, 1.0))
    await world.runs.create(RunRecord(keep, "wf", RunStatus.RUNNING, 2.0, 2.0))
    for run in (run_id, keep):
        await world.log.append(run, 0, [event(), event(EventType.RUN_COMPLETED)])
        await world.streams.append(run, "out", b"x" * (world.limits.inline_payload_bytes + 1))
        await world.blobs.put(f"{run}/evt_1", b"payload")
    with pytest.raises(ValueError, match="only ended runs"):
        await world.purge_run(run_id)
    await world.runs.update_status(run_id, RunStatus.COMPLETED, updated_at=3.0)
    await world.purge_run(run_id)

    assert await world.runs.get(run_id) is None
    assert await world.log.read(run_id) == []
    assert await world.streams.names(run_id) == []
    with pytest.raises(KeyError):
        await world.blobs.get(f"{run_id}/evt_1")
    for table in (world.config.events_table, world.config.streams_table):
        assert not [i for i in scan(world, table) if run_id in repr(i)]
    # The other run is untouched.
    assert len(await world.log.read(keep)) == 2
    assert await world.streams.names(keep) == ["out"]
    assert await world.blobs.get(f"{keep}/evt_1") == b"payload"


@pytest.mark.parametrize("damage", ["none", "head_deleted", "long"])
async def test_purge_walks_the_chain_and_queries_a_log_it_cannot_walk(
    world: AwsWorld, monkeypatch, damage: str
) -> None:
    """A purge finds an ended log's items along its chain (GetItem, no Query); a log whose
    chain it cannot walk to the end (a purge that failed half-way left it headless, or it
    is longer than the walk's limit) is listed with a Query instead, and nothing is left."""
    from adapters.aws import log as aws_log

    run_id = new_id()
    await world.runs.create(RunRecord(run_id, "wf", RunStatus.RUNNING, 1.0, 1.0))
    for position in range(4):
        await world.log.append(run_id, position, [event()])
    await world.log.append(run_id, 4, [event(EventType.RUN_COMPLETED)])
    await world.runs.update_status(run_id, RunStatus.COMPLETED, updated_at=3.0)
    if damage == "head_deleted":
        world.aws.dynamodb.delete_item(
            TableName=world.config.events_table,
            Key={"run_id": {"S": run_id}, "pos": {"N": "0"}},
        )
    if damage == "long":
        monkeypatch.setattr(aws_log, "DELETE_CHAIN_LIMIT", 3)
    world.reset_calls()
    await world.purge_run(run_id)
    assert not [i for i in scan(world, world.config.events_table) if run_id in repr(i)]
    queried = world.calls.get("dynamodb.Query", 0)
    assert queried == (0 if damage == "none" else 1), world.calls


# --- keys -------------------------------------------------------------------------------------


async def test_data_key_of_another_run_names_the_run(world: AwsWorld) -> None:
    run_id = new_id()
    plaintext, encrypted = await world.keys.generate_data_key(run_id)
    assert world.calls == {"kms.GenerateDataKey": 1}
    other_run = new_id()
    with pytest.raises(CorruptedDataError, match=other_run):
        await world.keys.decrypt_data_key(other_run, encrypted)
    assert await world.keys.decrypt_data_key(run_id, encrypted) == plaintext


# --- queue ------------------------------------------------------------------------------------


async def test_messages_carry_not_before_and_json(world: AwsWorld, clock: ManualClock) -> None:
    await world.queue.send({"kind": "workflow", "n": 1}, idempotency_key="k1")
    url = world.config.queue  # the stack names its queues by URL
    (raw,) = world.aws.sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"]
    assert raw["Body"] == '{"kind": "workflow", "n": 1}'
    attributes = raw["MessageAttributes"]
    assert float(attributes["not_before"]["StringValue"]) == clock.time()
    assert attributes["idem"]["StringValue"] == "k1"


async def test_manual_clock_delays_wait_in_process(world: AwsWorld, clock: ManualClock) -> None:
    await world.queue.send({"n": "later"}, delay=7200)
    assert world.queue.next_visible_at() == clock.time() + 7200
    assert world.queue.depth() == 1
    assert "sqs.SendMessage" not in world.calls  # not in SQS until due
    for _ in range(10):  # polls while it waits cost it no receives
        assert await world.queue.receive() == []
    clock.advance(7200)
    (delivery,) = await world.queue.receive(visibility_timeout=60)
    assert (delivery.body, delivery.receive_count) == ({"n": "later"}, 1)
    assert world.queue.next_visible_at() == clock.time() + 60


async def test_sqs_keeps_the_time_of_the_production_queue(make_local_world: Maker) -> None:
    world = make_local_world.production(await make_local_world())
    await world.queue.send({"n": 1}, delay=1)
    assert await world.queue.receive() == []
    (delivery,) = await world.queue.receive(wait_seconds=3, visibility_timeout=1)
    assert delivery.receive_count == 1
    await world.queue.change_visibility(delivery, 5)  # a long step extends its lease
    started = time.monotonic()
    assert await world.queue.receive(wait_seconds=1.5) == []
    assert time.monotonic() - started >= 1.4
    await world.queue.change_visibility(delivery, 0)
    (again,) = await world.queue.receive()
    assert again.receive_count == 2
    assert world.queue.next_visible_at() is None


async def test_dead_letter_after_max_receives_stays_in_dlq(make_world: Factory) -> None:
    world = await make_world(RealClock(), max_receives=2)
    await world.queue.send({"n": "poison"})
    for count in (1, 2):
        (delivery,) = await world.queue.receive(visibility_timeout=30)
        assert delivery.receive_count == count
        await world.queue.change_visibility(delivery, 0)
    assert await world.queue.receive() == []
    assert world.queue.dead_letters == [{"n": "poison"}]
    assert world.queue.dead_letters == [{"n": "poison"}]  # looking does not remove
    assert world.queue.redrive() == 1
    assert world.queue.dead_letters == []
    (revived,) = await world.queue.receive()
    assert (revived.body, revived.receive_count) == ({"n": "poison"}, 1)


async def test_idempotency_keys_only_for_the_emulators_sole_consumer(
    make_local_world: Maker,
) -> None:
    sole = await make_local_world(RealClock())
    shared = make_local_world.production(sole)
    await shared.queue.send({"n": 1}, idempotency_key="k")
    await shared.queue.send({"n": 2}, idempotency_key="k")
    assert len(await shared.queue.receive(max_messages=10)) == 2  # SQS cannot deduplicate

    await sole.queue.send({"n": 1}, idempotency_key="k")
    await sole.queue.send({"n": 2}, idempotency_key="k")
    assert [d.body for d in await sole.queue.receive(max_messages=10)] == [{"n": 1}]


async def test_a_key_received_before_its_send_returned_is_free_again(
    make_local_world: Factory,
) -> None:
    world = await make_local_world(RealClock())
    queue = world.queue
    send_sync = queue._send_sync
    raced: list[Any] = []

    def send_then_lose_the_race(*args: Any) -> str:
        message_id = send_sync(*args)
        raced.extend(queue._receive_sync(10, 30.0, 0))  # a poller got it before we returned
        return message_id

    queue._send_sync = send_then_lose_the_race  # type: ignore[method-assign]
    await queue.send({"n": 1}, idempotency_key="continue:run_1")
    queue._send_sync = send_sync  # type: ignore[method-assign]
    assert [d.body for d in raced] == [{"n": 1}]
    # The first message is in flight: the same key is new work, not a duplicate.
    await queue.send({"n": 2}, idempotency_key="continue:run_1")
    assert [d.body for d in await queue.receive()] == [{"n": 2}]


async def test_every_process_of_a_deployment_hashes_tokens_with_one_key(world: AwsWorld) -> None:
    from adapters.aws.hooks import DynamoHookRegistry

    token = f"approve:{uuid.uuid4().hex}"
    owner = HookOwner(token, new_id(), "hook_1")
    await world.hooks.claim(owner)
    another_process = DynamoHookRegistry(world.aws)  # no cached key: reads the stored one
    assert await another_process.lookup(token) == owner
    assert await another_process.digest(token) == await world.hooks.digest(token)


async def test_known_is_what_this_process_saw_reach_the_end_lately(world: AwsWorld) -> None:
    run_id = new_id()
    first = [event(EventType.RUN_CREATED)]
    await world.log.append(run_id, 0, first)
    calls = dict(world.calls)
    seen = world.log.known(run_id, 0, 1.0)
    assert seen is not None and seen[0] == [e.at(0) for e in first] and seen[1] < 1.0
    nothing_new = world.log.known(run_id, 1, 1.0)
    assert nothing_new is not None and nothing_new[0] == []
    assert world.calls == calls  # no call
    assert world.log.known(run_id, 0, 0.0) is None  # older than asked for: read instead
    other = twin(world)
    try:
        assert other.log.known(run_id, 0, 60.0) is None  # another process knows nothing
        await other.log.append(run_id, 1, [event(), event(EventType.RUN_COMPLETED)])
        ended = world.log.known(run_id, 0, 60.0)
        assert ended is not None and len(ended[0]) == 1  # a view, not the truth
        assert len(await world.log.read(run_id)) == 3
        finished = world.log.known(run_id, 1, 0.0)  # an ended log is known for good
        assert finished is not None and [e.seq for e in finished[0]] == [1, 2]
    finally:
        await other.close()
