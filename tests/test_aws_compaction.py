"""The compacted log object (adapters/aws/compaction.py): a cold process reads a long log with
one GetObject and the items after it, and falls back to the items whenever the object is
missing, stale, corrupt or truncated. On moto in-process and on the moto server."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.aws import AwsWorld
from adapters.aws.compaction import compacted_key, decode_compacted, encode_compacted
from adapters.aws.log import CHAIN_LIMIT
from adapters.aws.log_cache import LogCache
from local_emulator import Emulator
from runtime import create_hook, resume_hook, start, step, workflow
from runtime.engine.codec import CodecCache
from runtime.engine.events import EventType, RunStatus
from runtime.errors import CorruptedDataError
from runtime.world import RealClock, RunRecord

from .conftest import ManualClock, aws_inprocess_world, aws_server_world
from .test_aws_world import KINDS, Maker, event, new_id, twin

EVERY = 10


@pytest.fixture(params=list(KINDS))
async def world(request: pytest.FixtureRequest, clock: ManualClock) -> AsyncIterator[AwsWorld]:
    if request.param == "server":
        request.getfixturevalue("moto_server")
    maker = Maker(KINDS[request.param], clock)
    try:
        yield await maker(compact_every=EVERY)
    finally:
        await maker.close()


async def write_log(world: AwsWorld, run_id: str, length: int, *, end: bool = False) -> None:
    """`length` one-event batches (the last one terminal when `end`), each compaction waited
    for so the object is deterministic."""
    for position in range(length):
        terminal = end and position == length - 1
        kind = EventType.RUN_COMPLETED if terminal else EventType.STEP_COMPLETED
        await world.log.append(run_id, position, [event(kind, n=position)])
        world.log.wait_compacted()


def stored(world: AwsWorld, run_id: str) -> bytes | None:
    try:
        answer = world.aws.s3.get_object(Bucket=world.config.bucket, Key=compacted_key(run_id))
    except Exception:
        return None
    return bytes(answer["Body"].read())


def put_object(world: AwsWorld, run_id: str, data: bytes) -> None:
    world.aws.s3.put_object(Bucket=world.config.bucket, Key=compacted_key(run_id), Body=data)


async def cold_read(world: AwsWorld, run_id: str) -> tuple[list[Any], dict[str, int]]:
    other = twin(world)
    try:
        events = await other.log.read(run_id)
        return events, other.calls
    finally:
        await other.close()


async def test_a_cold_process_reads_the_compacted_object_not_the_chain(world: AwsWorld) -> None:
    run_id = new_id()
    await write_log(world, run_id, 4 * EVERY + 3)
    batches = decode_compacted(stored(world, run_id) or b"", where="test")
    assert batches[-1][0] + len(batches[-1][1]) == 4 * EVERY  # the last multiple reached

    events, calls = await cold_read(world, run_id)
    assert [e.attrs["n"] for e in events] == list(range(4 * EVERY + 3))
    assert [e.seq for e in events] == list(range(4 * EVERY + 3))
    assert calls.get("s3.GetObject") == 1
    assert "dynamodb.Query" not in calls  # the chain after the object is short
    # The items before the probe, and the 3 after the object plus the end.
    assert calls["dynamodb.GetItem"] == CHAIN_LIMIT + 4


async def test_without_the_object_a_cold_read_walks_the_items(world: AwsWorld) -> None:
    run_id = new_id()
    await write_log(world, run_id, 4 * EVERY + 3)
    world.aws.s3.delete_object(Bucket=world.config.bucket, Key=compacted_key(run_id))
    events, calls = await cold_read(world, run_id)
    assert [e.attrs["n"] for e in events] == list(range(4 * EVERY + 3))
    assert calls.get("s3.GetObject") == 1  # the probe: not found
    assert calls["dynamodb.Query"] == 1


@pytest.mark.parametrize(
    "spoil",
    [
        lambda data: data[: len(data) // 2],  # truncated
        lambda data: data[:-1] + bytes([data[-1] ^ 1]),  # one bit flipped in the body
        lambda data: data[:40] + b"x" + data[41:],  # in the header
        lambda data: b"not an object at all",
    ],
    ids=["truncated", "body-bit", "header-byte", "garbage"],
)
async def test_a_corrupt_object_is_ignored_with_a_warning(
    world: AwsWorld, spoil: Any, caplog: pytest.LogCaptureFixture
) -> None:
    run_id = new_id()
    await write_log(world, run_id, 3 * EVERY + 2)
    good = stored(world, run_id)
    assert good is not None
    put_object(world, run_id, spoil(good))
    with pytest.raises(CorruptedDataError):
        decode_compacted(spoil(good), where="test")
    with caplog.at_level(logging.WARNING, logger="steplane.aws.log"):
        events, calls = await cold_read(world, run_id)
    assert [e.attrs["n"] for e in events] == list(range(3 * EVERY + 2))
    assert calls["dynamodb.Query"] == 1  # read from the items instead
    assert any("compacted log" in record.getMessage() for record in caplog.records)


async def test_a_stale_object_is_used_as_far_as_it_goes(world: AwsWorld) -> None:
    """A writer that died between its batch and its object (or an older put landing last)
    leaves an object that ends before the log does: the reader takes the rest from the chain."""
    run_id = new_id()
    await write_log(world, run_id, 2 * EVERY)
    older = stored(world, run_id)
    assert older is not None
    for position in range(2 * EVERY, 5 * EVERY + 1):
        await world.log.append(run_id, position, [event(n=position)])
        world.log.wait_compacted()
    put_object(world, run_id, older)  # the newer puts never happened
    events, calls = await cold_read(world, run_id)
    assert [e.attrs["n"] for e in events] == list(range(5 * EVERY + 1))
    assert calls.get("s3.GetObject") == 1


async def test_a_writer_that_dies_before_its_object_leaves_a_readable_log(
    world: AwsWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The put fails after the batch item was written (a process killed there writes no
    object either): the log is whole, and the next crossing writes the object."""
    run_id = new_id()

    def dies(*_: Any, **__: Any) -> None:
        raise ConnectionError("killed before the object was written")

    real = world.log._put_compacted  # type: ignore[attr-defined]
    monkeypatch.setattr(world.log, "_put_compacted", dies)
    await write_log(world, run_id, EVERY + 1)
    assert stored(world, run_id) is None
    events, _ = await cold_read(world, run_id)
    assert [e.attrs["n"] for e in events] == list(range(EVERY + 1))

    monkeypatch.setattr(world.log, "_put_compacted", real)
    for position in range(EVERY + 1, 2 * EVERY):
        await world.log.append(run_id, position, [event(n=position)])
        world.log.wait_compacted()
    batches = decode_compacted(stored(world, run_id) or b"", where="test")
    assert sum(len(batch) for _, batch in batches) == 2 * EVERY


async def test_a_crossing_by_a_process_without_the_log_is_made_up_by_the_next_reader(
    world: AwsWorld,
) -> None:
    """A step invocation appends without holding the log before its step: its crossing
    writes nothing. The next process that reads the log (through the lagging object) and
    appends writes the object up to its own batch."""
    run_id = new_id()
    await write_log(world, run_id, 2 * EVERY)  # object up to 20
    appender = twin(world)
    reader = twin(world)
    try:
        for position in range(2 * EVERY, 3 * EVERY + 1):  # crosses 30, holds only its own
            await appender.log.append(run_id, position, [event(n=position)])
            appender.log.wait_compacted()
        batches = decode_compacted(stored(world, run_id) or b"", where="test")
        assert sum(len(batch) for _, batch in batches) == 2 * EVERY  # not rewritten
        assert len(await reader.log.read(run_id)) == 3 * EVERY + 1
        await reader.log.append(run_id, 3 * EVERY + 1, [event(n=3 * EVERY + 1)])
        reader.log.wait_compacted()
        batches = decode_compacted(stored(world, run_id) or b"", where="test")
        assert sum(len(batch) for _, batch in batches) == 3 * EVERY + 2
    finally:
        await appender.close()
        await reader.close()


@pytest.fixture
async def server_world(moto_server: Any, clock: ManualClock) -> AsyncIterator[AwsWorld]:
    """On the moto server only: a second process cannot share an in-process moto."""
    maker = Maker(aws_server_world, clock)
    try:
        yield await maker(compact_every=EVERY)
    finally:
        await maker.close()


async def test_a_process_killed_before_its_object_leaves_a_readable_log(
    server_world: AwsWorld,
) -> None:
    """A real process on the moto server, SIGKILLed as it starts the object's put, right
    after the crossing batch's item: another process reads the whole log and appends on."""
    made = server_world
    config = {f.name: getattr(made.config, f.name) for f in dataclasses.fields(made.config)}
    del config["limits"]
    run_id = new_id()
    child = subprocess.run(
        [sys.executable, "-m", "tests.compaction_writer", json.dumps(config), run_id, "30"],
        timeout=60,
        capture_output=True,
    )
    assert child.returncode == -9, child.stderr.decode()[-2000:]
    assert stored(made, run_id) is None
    events, _ = await cold_read(made, run_id)
    assert len(events) >= EVERY  # the crossing batch is written; maybe one more after it
    assert [e.attrs["n"] for e in events] == list(range(len(events)))
    reader = twin(made)
    try:
        assert len(await reader.log.read(run_id)) == len(events)
        await reader.log.append(run_id, len(events), [event(n=len(events))])
    finally:
        await reader.close()
    assert len(await twin_read(made, run_id)) == len(events) + 1


async def twin_read(world: AwsWorld, run_id: str) -> list[Any]:
    return (await cold_read(world, run_id))[0]


async def test_an_ended_log_read_from_its_object_refuses_appends(world: AwsWorld) -> None:
    run_id = new_id()
    await write_log(world, run_id, 3 * EVERY, end=True)  # the terminal batch reaches 30
    events, calls = await cold_read(world, run_id)
    assert events[-1].type == EventType.RUN_COMPLETED and len(events) == 3 * EVERY
    assert "dynamodb.Query" not in calls
    assert calls["dynamodb.GetItem"] == CHAIN_LIMIT  # nothing read after the terminal batch


async def test_purge_removes_the_compacted_object(world: AwsWorld) -> None:
    run_id = new_id()
    await world.runs.create(RunRecord(run_id, "wf", RunStatus.RUNNING, 1.0, 1.0))
    await write_log(world, run_id, 2 * EVERY, end=True)
    assert stored(world, run_id) is not None
    await world.runs.update_status(run_id, RunStatus.COMPLETED, updated_at=2.0)
    await world.purge_run(run_id)
    assert stored(world, run_id) is None
    assert await world.log.read(run_id) == []


def test_the_object_holds_the_items_bytes_not_decrypted_values() -> None:
    """Payloads are stored as the engine encrypted them (docs/invariants.md #5)."""
    batch = [event(payload=b"\x00ciphertext\xff", n=1), event(payload=None, n=2)]
    data = encode_compacted([(0, batch)])
    assert b"\x00ciphertext\xff" in data
    [(start, decoded)] = decode_compacted(data, where="test")
    assert start == 0 and [e.payload for e in decoded] == [b"\x00ciphertext\xff", None]


# --- a run through the engine ------------------------------------------------------------------


@step
async def bump(i: int) -> int:
    return i + 1


@workflow
async def long_then_hook(n: int, token: str) -> int:
    total = 0
    for i in range(n):
        total += await bump(i)
    payload = await create_hook(token=token)
    return total + int(payload) + await bump(n)


def forget_everything(emu: Emulator) -> None:
    """What a fresh process knows of the run: nothing (no data key, no log cache)."""
    world: Any = emu.world
    emu.host.codecs = CodecCache(world)
    world.log._cache = LogCache(world.config.log_cache_bytes)


@pytest.mark.parametrize("corrupt", [False, True], ids=["object", "corrupt-object"])
async def test_a_cold_process_resumes_a_long_run_from_its_object(
    corrupt: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """A hook payload reaches a run no process holds: the replay reads the log from the
    compacted object (or, when it is corrupt, from the items) and the run ends correctly."""
    world = await aws_inprocess_world(RealClock(), compact_every=EVERY)
    token = new_id("tok")
    try:
        async with Emulator(world=world, cache_size=0, modules=[__name__]) as emu:
            run = await start(long_then_hook, 20, token)
            for _ in range(500):  # bounded: the run reaches its hook in well under 5 s
                if any(e["type"] == "hook_created" for e in await run.events()):
                    break
                await asyncio.sleep(0.01)
            world.log.wait_compacted()
            good = stored(world, run.run_id)
            assert good is not None
            if corrupt:
                put_object(world, run.run_id, good[:-10])
            forget_everything(emu)
            world.reset_calls()
            with caplog.at_level(logging.WARNING, logger="steplane.aws.log"):
                await resume_hook(token, 100)
                assert await run.result(timeout=30) == sum(range(1, 21)) + 100 + 21
            assert world.calls.get("s3.GetObject", 0) >= 1
            warned = any("compacted log" in r.getMessage() for r in caplog.records)
            assert warned == corrupt
            assert ("dynamodb.Query" in world.calls) == corrupt
    finally:
        await world.close()
