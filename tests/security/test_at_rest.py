"""At-rest canary scan (issue 8): every kind of user value goes through the AWS World on moto
carrying a unique canary, then every DynamoDB item, S3 object, SQS message body and captured
log line is searched for the canary in plaintext, base64 (standard and urlsafe, at the three
alignments) and hex. docs/invariants.md #5 and #9: user values and bearer secrets are never at
rest, in a message or in a log in clear. Names, ids and statuses are plaintext by design, so
the canary is only ever put into values, error messages and the hook token.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import time
from typing import Any

import pytest

from adapters.aws import AwsWorld
from local_emulator import Emulator
from runtime import (
    FatalError,
    HookConflictError,
    create_hook,
    get_writable,
    resume_hook,
    start,
    step,
    workflow,
)
from runtime.engine.events import EventType
from runtime.world import Limits

VALUE_CANARY = "valuecanary" + secrets.token_hex(8)
"""Put into every user value and error message."""
TOKEN_CANARY = "tokencanary" + secrets.token_hex(8)
"""Put only into the custom hook token (a bearer secret: stored hashed, if at all)."""
OVER_INLINE = Limits().inline_payload_bytes + 1024  # > any World's inline threshold: goes to S3


@step
async def echo(text: str) -> dict[str, Any]:
    writer = get_writable()
    await writer.write(f"chunk {text}")
    await writer.write({"nested": text})
    await writer.close()
    return {"small": text, "big": text * (OVER_INLINE // len(text) + 1)}


@step(max_retries=0)
async def explode(text: str) -> None:
    raise FatalError(f"boom {text}")


@workflow(name="at-rest:values")
async def values_flow(text: str, token: str) -> dict[str, Any]:
    out = await echo(text)
    try:
        await explode(text)
        caught = ""
    except Exception as error:  # the step's error, with the canary in its message
        caught = str(error)
    payload = await create_hook(token=token, metadata={"about": text})
    return {"small": out["small"], "size": len(out["big"]), "caught": caught, "payload": payload}


@workflow(name="at-rest:fails")
async def failing_flow(text: str) -> None:
    await explode(text)  # uncaught: the run fails with the canary in its error


@workflow(name="at-rest:claims")
async def claiming_flow(token: str) -> str:
    try:
        await create_hook(token=token)
    except HookConflictError:
        return "conflict"
    return "claimed"


def forms(canary: str) -> list[bytes]:
    """The canary as a scan must find it: plaintext, hex, and base64 (standard and urlsafe)
    of the canary starting at each of the three byte alignments of a base64 group."""
    raw = canary.encode()
    found = [raw, raw.hex().encode(), raw.hex().upper().encode()]
    for offset, skip in ((0, 0), (1, 2), (2, 3)):  # chars that depend on the canary alone
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            found.append(encode(b"\0" * offset + raw)[skip:-4])
    return found


async def wait_for_event(run: Any, event_type: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not any(e["type"] == event_type for e in await run.events()):
        assert time.monotonic() < deadline, f"{run.run_id} never recorded {event_type}"
        await asyncio.sleep(0.02)


def everything_at_rest(world: AwsWorld, sent: list[str]) -> dict[str, bytes]:
    """Every DynamoDB item (all tables), S3 object (all buckets) and SQS message (every queue:
    received without deleting, plus every body ever sent), by where it was found."""
    aws = world.aws
    found: dict[str, bytes] = {}
    for table in aws.dynamodb.list_tables()["TableNames"]:
        pages = aws.dynamodb.get_paginator("scan").paginate(TableName=table)
        for number, item in enumerate(i for page in pages for i in page["Items"]):
            blobs = [repr(item).encode()] + [v["B"] for v in item.values() if "B" in v]
            found[f"dynamodb {table} item {number}: {sorted(item)}"] = b"\n".join(blobs)
    for bucket in aws.s3.list_buckets()["Buckets"]:
        pages = aws.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"])
        for entry in (e for page in pages for e in page.get("Contents", [])):
            body = aws.s3.get_object(Bucket=bucket["Name"], Key=entry["Key"])["Body"].read()
            found[f"s3 {bucket['Name']}/{entry['Key']}"] = entry["Key"].encode() + b"\n" + body
    for url in aws.sqs.list_queues().get("QueueUrls", []):
        waiting = aws.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0, MessageAttributeNames=["All"]
        ).get("Messages", [])
        for number, message in enumerate(waiting):
            found[f"sqs {url} waiting {number}"] = repr(message).encode()
    for number, body in enumerate(sent):
        found[f"sqs sent {number}"] = body.encode()
    return found


def test_the_scan_finds_every_encoding_it_claims_to() -> None:
    for offset in range(3):
        raw = b"x" * offset + VALUE_CANARY.encode() + b"tail"
        for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw), raw.hex().encode()):
            assert leaks({"here": b"prefix" + encoded}, VALUE_CANARY) != []
    assert leaks({"here": base64.b64encode(b"unrelated bytes " * 8)}, VALUE_CANARY) == []


def leaks(corpus: dict[str, bytes], canary: str) -> list[str]:
    return [
        f"{where}: {form.decode()!r}"
        for where, blob in corpus.items()
        for form in forms(canary)
        if form in blob
    ]


async def run_every_kind_of_value(
    caplog: pytest.LogCaptureFixture, aws: Any = "aws"
) -> dict[str, bytes]:
    """The scenario on an AWS World; returns what is at rest and what was logged."""
    caplog.set_level(logging.DEBUG, logger="steplane")
    token = f"hook-{TOKEN_CANARY}"
    async with Emulator(world=aws) as emu:
        world = emu.world
        assert isinstance(world, AwsWorld)
        sent: list[str] = []
        world.aws.sqs.meta.events.register(
            "before-parameter-build.sqs.SendMessage",
            lambda params, **_: sent.append(params["MessageBody"]),
        )
        run = await start(values_flow, VALUE_CANARY, token)
        await wait_for_event(run, EventType.HOOK_CREATED)
        rival = await start(claiming_flow, token)  # the same custom token: a conflict
        assert await rival.result(timeout=20) == "conflict"
        while_live = everything_at_rest(world, [])  # the hooks table while the hook is live
        failed = await start(failing_flow, VALUE_CANARY)
        with pytest.raises(Exception, match=f"boom {VALUE_CANARY}"):
            await failed.result(timeout=20)
        await resume_hook(token, {"note": VALUE_CANARY})
        result = await run.result(timeout=20)
        assert result["small"] == VALUE_CANARY and result["size"] > OVER_INLINE
        assert result["caught"].endswith(f"boom {VALUE_CANARY}")
        assert result["payload"] == {"note": VALUE_CANARY}
        chunks = [chunk async for chunk in run.stream()]
        assert chunks == [f"chunk {VALUE_CANARY}", {"nested": VALUE_CANARY}]
        events = repr([e.get("data") for e in await run.events()])
        assert VALUE_CANARY in events  # readable through the API: the values are really there
        corpus = everything_at_rest(world, sent)
        corpus |= {f"{where} (hook live)": blob for where, blob in while_live.items()}
        assert any(len(blob) > OVER_INLINE for where, blob in corpus.items() if "s3" in where)
    for number, record in enumerate(caplog.records):
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        corpus[f"log {record.name} {record.levelname} #{number}"] = text.encode()
    return corpus


async def test_no_user_value_or_error_message_is_at_rest_or_logged_in_clear(
    caplog: pytest.LogCaptureFixture, aws: Any
) -> None:
    corpus = await run_every_kind_of_value(caplog, aws)
    assert len(corpus) > 20  # items, objects, messages and log lines were really scanned
    assert leaks(corpus, VALUE_CANARY) == []


async def test_no_hook_token_is_at_rest_or_logged_in_clear(
    caplog: pytest.LogCaptureFixture,
) -> None:
    corpus = await run_every_kind_of_value(caplog)
    assert leaks(corpus, TOKEN_CANARY) == []
