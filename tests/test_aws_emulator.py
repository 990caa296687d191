"""End to end on `Emulator(world="aws")`: what lands in DynamoDB, S3 and SQS is ciphertext,
large values travel through S3, tampering is caught, and long sleeps chain SQS delays."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from adapters.aws import AwsWorld
from adapters.aws.batches import decode_batch, encode_batch
from local_emulator import Emulator
from runtime import (
    create_hook,
    get_writable,
    resume_hook,
    sleep,
    start,
    step,
    workflow,
)
from runtime.engine.events import EventType
from runtime.errors import CorruptedDataError

CANARY = "canary-9d41e7b2"
MB = 1024 * 1024


@step
async def shout(text: str) -> dict[str, Any]:
    writer = get_writable()
    await writer.write(f"streamed {text}")
    await writer.close()
    return {"loud": text.upper(), "again": text, "big": text * (MB // len(text))}


@workflow(name="aws-e2e:canary")
async def canary_flow(text: str, token: str) -> dict[str, Any]:
    shouted = await shout(text)
    payload = await create_hook(token=token, metadata={"about": text})
    return {"again": shouted["again"], "size": len(shouted["big"]), "payload": payload}


@step
async def blob_of(size: int) -> bytes:
    return b"z" * size


@workflow(name="aws-e2e:large-result")
async def large_result(size: int) -> int:
    try:
        return len(await blob_of(size))
    except Exception as error:
        return -1 if "limit" in str(error) else -2


@step
async def add(a: int, b: int) -> int:
    return a + b


@workflow(name="aws-e2e:long-sleep")
async def long_sleep() -> int:
    await sleep("2h")
    return await add(40, 2)


def world_of(emu: Emulator) -> AwsWorld:
    assert isinstance(emu.world, AwsWorld)
    return emu.world


async def wait_for_event(run: Any, event_type: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not any(e["type"] == event_type for e in await run.events()):
        assert time.monotonic() < deadline, f"{run.run_id} never recorded {event_type}"
        await asyncio.sleep(0.02)


def everything_stored(world: AwsWorld) -> list[bytes]:
    """Every DynamoDB item and S3 object of the World, as bytes to search."""
    aws, config = world.aws, world.config
    stored = []
    for table in (config.events_table, config.runs_table, config.hooks_table, config.streams_table):
        for item in aws.dynamodb.scan(TableName=table)["Items"]:
            stored.append(repr(item).encode())
            stored.extend(v["B"] for v in item.values() if "B" in v)
    for entry in aws.s3.list_objects_v2(Bucket=config.bucket).get("Contents", []):
        stored.append(aws.s3.get_object(Bucket=config.bucket, Key=entry["Key"])["Body"].read())
    return stored


async def test_canary_is_ciphertext_everywhere_and_plaintext_in_events(aws: Any) -> None:
    async with Emulator(world=aws) as emu:
        world = world_of(emu)
        bodies: list[str] = []
        world.aws.sqs.meta.events.register(
            "before-parameter-build.sqs.SendMessage",
            lambda params, **_: bodies.append(params["MessageBody"]),
        )
        run = await start(canary_flow, CANARY, "canary-token")
        await wait_for_event(run, EventType.HOOK_CREATED)
        await resume_hook("canary-token", {"note": CANARY})
        result = await run.result(timeout=20)
        assert result == {
            "again": CANARY,
            "size": MB // len(CANARY) * len(CANARY),
            "payload": {"note": CANARY},
        }
        chunks = [chunk async for chunk in run.stream()]
        assert chunks == [f"streamed {CANARY}"]

        stored = everything_stored(world)
        assert any(len(blob) > MB for blob in stored)  # the 1 MB result went to S3
        for blob in stored:
            for form in (CANARY, CANARY.upper()):
                assert form.encode() not in blob
        assert bodies and not any(CANARY in body for body in bodies)

        events = await run.events()
        data = repr([e.get("data") for e in events])
        for where in ("args", "loud", "note", "about"):
            assert where in data
        assert CANARY in data and CANARY.upper() in data


async def test_ten_mb_result_round_trips_through_s3_and_sixty_is_refused(aws: Any) -> None:
    async with Emulator(world=aws) as emu:
        world = world_of(emu)
        run = await start(large_result, 10 * MB)
        assert await run.result(timeout=30) == 10 * MB
        assert world.calls["s3.CreateMultipartUpload"] >= 1

        run = await start(large_result, 60 * MB)
        assert await run.result(timeout=30) == -1  # the step failed with the size error


async def test_flipped_byte_fails_clearly_and_overwrites_nothing(aws: Any) -> None:
    async with Emulator(world=aws) as emu:
        world = world_of(emu)
        run = await start(large_result, 100)
        assert await run.result(timeout=10) == 100
        table = world.config.events_table
        items = world.aws.dynamodb.query(
            TableName=table,
            KeyConditionExpression="run_id = :r",
            ExpressionAttributeValues={":r": {"S": run.run_id}},
        )["Items"]
        target = next(
            item
            for item in items
            if "ev" in item
            and any(
                e.type == EventType.STEP_COMPLETED
                for e in decode_batch(item["ev"]["B"], 0, where="test")
            )
        )
        start_pos = int(target["pos"]["N"])
        events = decode_batch(target["ev"]["B"], start_pos, where="test")
        tampered = []
        for e in events:
            if e.type == EventType.STEP_COMPLETED and e.payload:
                flipped = bytearray(e.payload)
                flipped[-1] ^= 1
                e = type(e)(
                    e.type,
                    e.event_id,
                    e.created_at,
                    e.correlation_id,
                    e.attrs,
                    bytes(flipped),
                    e.seq,
                )
            tampered.append(e)
        target["ev"] = {"B": encode_batch(tampered)}
        world.aws.dynamodb.put_item(TableName=table, Item=target)
        before = world.aws.dynamodb.scan(TableName=table)["Items"]

        cold = AwsWorld(world.config, world.clock)  # no cached data key, no cached log
        try:
            from runtime.engine.codec import codecs_for

            codec = await codecs_for(cold).get(run.run_id)
            stored = await cold.log.read(run.run_id)
            completed = next(e for e in stored if e.type == EventType.STEP_COMPLETED)
            with pytest.raises(CorruptedDataError, match=run.run_id):
                await codec.open(completed)
        finally:
            await cold.close()
        # (The emulator's own process keeps the batches it wrote in memory and would not
        # re-read them: tampering shows in any process that reads the item, as above.)
        assert world.aws.dynamodb.scan(TableName=table)["Items"] == before


async def test_two_hour_sleep_chains_delays_in_virtual_time(aws: Any) -> None:
    async with Emulator(world=aws, virtual_time=True) as emu:
        run = await start(long_sleep)
        assert await run.result(timeout=20) == 42
        # 7,200 s in SQS-sized hops of at most 900 s: 7 timer hops, then the wake-up itself;
        # the workflow ran at the start and at the end only.
        assert emu.invocation_counts[f"timer:{run.run_id}"] == 7
        assert emu.workflow_invocations(run.run_id) == 2
        assert world_of(emu).queue.max_delay == 900


async def test_trim_drops_what_moto_keeps_of_deleted_messages() -> None:
    from moto.sqs.models import sqs_backends

    from local_emulator.aws.embedded import trim

    async with Emulator(world="aws") as emu:
        world = world_of(emu)
        run = await start(large_result, 10)
        assert await run.result(timeout=10) == 10

        def kept() -> int:
            return sum(
                len(queue.deleted_messages)
                for account in sqs_backends.values()
                for backend in account.values()
                for queue in backend.queues.values()
            )

        deadline = time.monotonic() + 5
        while kept() == 0:  # the emulator deletes the message after the invocation returns
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        trim(world)
        assert kept() == 0


async def test_the_embedded_world_sends_unsigned_requests_to_the_same_resources() -> None:
    """The in-process mock checks no signature, so the embedded World skips SigV4 (CPU spent
    for nothing) on DynamoDB, SQS and KMS (S3 would refuse an anonymous request); a World made
    the production way on the same stack signs every request, and both see the same
    account's tables, objects and queue."""
    async with Emulator(world="aws") as emu:
        embedded = world_of(emu)
        production = AwsWorld(embedded.config, embedded.clock)
        try:
            headers: dict[str, list[tuple[str, bytes | None]]] = {"embedded": [], "production": []}
            for name, world in (("embedded", embedded), ("production", production)):
                for client in (world.aws.dynamodb, world.aws.sqs, world.aws.kms, world.aws.s3):
                    service = client.meta.service_model.service_name
                    client.meta.events.register(
                        "before-send",
                        lambda request, name=name, service=service, **_: headers[name].append(
                            (service, request.headers.get("Authorization"))
                        ),
                    )
            run = await start(large_result, 3)
            assert await run.result(timeout=10) == 3
            record = await production.runs.get(run.run_id)
            assert record is not None and record.status == "completed"
            await production.blobs.put("probe/unsigned", b"seen by both")
            assert await embedded.blobs.get("probe/unsigned") == b"seen by both"
            unsigned = {service for service, auth in headers["embedded"] if auth is None}
            signed = {service for service, auth in headers["embedded"] if auth is not None}
            assert unsigned == {"dynamodb", "sqs", "kms"} and signed == {"s3"}
            assert {service for service, _ in headers["production"]} == {"dynamodb", "s3"}
            signatures = [auth or b"" for _, auth in headers["production"]]
            assert all(auth.startswith(b"AWS4-HMAC-SHA256") for auth in signatures)
        finally:
            await production.close()
