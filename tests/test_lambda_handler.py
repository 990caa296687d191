"""The Lambda entry point fed real-shaped events: SQS batches (partial batch failures) and
API Gateway v2 / Function URL requests, plus every engine scenario driven through it.

`handler` is synchronous, as Lambda calls it, so tests call it from a worker thread; its warm
state (host, event loop) lives in the module, as it would in a Lambda instance.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import hashlib
import importlib
import json
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from adapters import lambda_handler
from adapters.memory import MemoryWorld
from adapters.signing import sign
from local_emulator.clock import VirtualClock
from runtime import set_world, start
from runtime.engine.wait_in_place import WAIT_ENV
from runtime.world import Delivery, RealClock, World
from tests.conftest import installed
from tests.engine import test_scenarios as _scenarios
from tests.engine import workflows as wf

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:steplane-queue"


# --- real-shaped events ---------------------------------------------------------------------


def sqs_record(body: str, receive_count: int = 1, message_id: str | None = None) -> dict:
    """One record as Lambda's SQS event source mapping delivers it."""
    now_ms = str(int(time.time() * 1000))
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": base64.b64encode(os.urandom(48)).decode(),
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": now_ms,
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": now_ms,
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": "us-east-1",
    }


def sqs_event(deliveries: Iterable[Delivery]) -> dict:
    return {
        "Records": [
            sqs_record(json.dumps(d.body), d.receive_count, d.message_id) for d in deliveries
        ]
    }


def http_event(
    method: str,
    path: str,
    query: str = "",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    stage: str = "$default",
) -> dict:
    """An API Gateway HTTP API (payload format 2.0) / Function URL request."""
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path if stage == "$default" else f"/{stage}{path}",
        "rawQueryString": query,
        "headers": {
            "accept": "*/*",
            "content-length": str(len(body or b"")),
            "host": "abc123.execute-api.us-east-1.amazonaws.com",
            "user-agent": "curl/8.5.0",
            "x-amzn-trace-id": "Root=1-65f0-abc",
            "x-forwarded-for": "203.0.113.9",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
            **(headers or {}),
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.9",
                "userAgent": "curl/8.5.0",
            },
            "requestId": "req-1",
            "routeKey": "$default",
            "stage": stage,
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": base64.b64encode(body).decode() if body is not None else None,
        "isBase64Encoded": body is not None,
    }


async def call(event: dict) -> dict:
    return await asyncio.to_thread(lambda_handler.handler, event, None)


@pytest.fixture
async def world(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    monkeypatch.setenv("STEPLANE_API_KEYS", "lambda-key")
    monkeypatch.setenv("STEPLANE_DECRYPT_API_KEYS", "lambda-decrypt-key")
    monkeypatch.setenv("STEPLANE_SIGNING_SECRET", "lambda-secret")
    async with installed(MemoryWorld()) as built:
        yield built


# --- SQS ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "poison",
    [
        "{not json",
        json.dumps({"v": 1, "kind": "workflow", "run_id": "run_x", "workflow": "gone:wf"}),
        json.dumps({"v": 1, "kind": "workflow", "run_id": "run_0000", "workflow": "x"}),
    ],
    ids=["not-json", "unknown-workflow", "unknown-run"],
)
async def test_poisoned_message_is_the_only_batch_item_failure(world, poison, caplog) -> None:
    runs = [await start(wf.addition, i, 10) for i in range(2)]
    deliveries = await world.queue.receive(max_messages=10)
    records = [sqs_record(json.dumps(d.body), d.receive_count) for d in deliveries]
    poisoned = sqs_record(poison, receive_count=3)
    event = {"Records": [records[0], poisoned, records[1]]}
    with caplog.at_level(logging.INFO, logger="steplane.lambda"):
        result = await call(event)
    # It can never succeed: settled (not retried), logged with why; the others ran.
    assert result == {"batchItemFailures": []}
    assert [await run.result(timeout=5) for run in runs] == [10, 11]

    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "steplane.lambda"]
    [bad] = [line for line in lines if line["message_id"] == poisoned["messageId"]]
    assert bad["outcome"] == "rejected" and bad["receive_count"] == 3
    assert bad["error"] and "\n" not in bad["error"]
    ok = [line for line in lines if line is not bad]
    assert [line["outcome"] for line in ok] == ["ok", "ok"]
    assert {line["run_id"] for line in ok} == {run.run_id for run in runs}
    assert all(line["kind"] == "workflow" and line["duration_ms"] >= 0 for line in ok)

    again = await call({"Records": records})  # a redelivered batch changes nothing
    assert again == {"batchItemFailures": []}


async def test_warm_invocations_reuse_the_host(world) -> None:
    await start(wf.addition, 1, 1)
    await call(sqs_event(await world.queue.receive()))
    host = lambda_handler.get_host()
    await start(wf.addition, 2, 2)
    await call(sqs_event(await world.queue.receive()))
    assert lambda_handler.get_host() is host


async def test_unknown_events_are_refused_clearly(world) -> None:
    with pytest.raises(ValueError, match="unsupported event"):
        await call({"source": "aws.events", "detail": {}})


async def test_handler_called_from_a_running_loop_says_how_to_call_it(world) -> None:
    with pytest.raises(RuntimeError, match=r"asyncio\.to_thread"):
        lambda_handler.handler({"Records": [sqs_record("{}")]}, None)


# --- HTTP (API Gateway v2 / Function URL) -----------------------------------------------------


async def test_api_gateway_list_runs(world) -> None:
    run = await start(wf.addition, 1, 2)
    auth = {"authorization": "Bearer lambda-key"}
    response = await call(http_event("GET", "/v1/runs", "limit=10&status=pending", auth))
    assert response["statusCode"] == 200
    assert response["headers"]["content-type"] == "application/json"
    assert response["isBase64Encoded"] is False
    body = json.loads(response["body"])
    assert [r["run_id"] for r in body["runs"]] == [run.run_id]
    refused = await call(http_event("GET", "/v1/runs"))
    assert refused["statusCode"] == 401


async def test_api_gateway_start_invoke_and_result_on_a_named_stage(world) -> None:
    auth = {"authorization": "Bearer lambda-key", "content-type": "application/json"}
    body = json.dumps({"workflow": wf.addition.__steplane_workflow__.name, "args": [5, 6]})
    started = await call(
        http_event("POST", "/v1/runs", headers=auth, body=body.encode(), stage="prod")
    )
    assert started["statusCode"] == 201
    run_id = json.loads(started["body"])["run_id"]
    assert started["headers"]["location"] == f"/prod/v1/runs/{run_id}"

    [delivery] = await world.queue.receive()
    message = json.dumps(delivery.body).encode()
    unsigned = await call(http_event("POST", "/invoke", body=message, stage="prod"))
    assert unsigned["statusCode"] == 401
    signed = {**sign("lambda-secret", message), "content-type": "application/json"}
    invoked = await call(http_event("POST", "/invoke", headers=signed, body=message, stage="prod"))
    assert (invoked["statusCode"], json.loads(invoked["body"])) == (200, {"ok": True})

    result = await call(http_event("GET", f"/v1/runs/{run_id}/result", headers=auth, stage="prod"))
    assert json.loads(result["body"])["result"] == 11


async def test_api_gateway_sse_is_returned_whole(world) -> None:
    run = await start(wf.streaming, 1)
    await call(sqs_event(await world.queue.receive()))
    assert await run.result(timeout=5) == 1
    auth = {"authorization": "Bearer lambda-decrypt-key"}  # chunks are user values
    path = f"/v1/runs/{run.run_id}/streams/default"
    response = await call(http_event("GET", path, headers=auth))
    assert response["statusCode"] == 200
    assert response["body"].startswith('id: 0\ndata: {"progress":0}\n\n')
    assert response["body"].endswith("event: end\ndata: {}\n\n")


# --- cold start -------------------------------------------------------------------------------


def test_import_loads_neither_the_engine_nor_starlette() -> None:
    code = (  # by the handler path the template gives Lambda
        "import sys, steplane.adapters.lambda_handler; "
        "heavy = ('starlette', 'cryptography', 'steplane.runtime', 'runtime'); "
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=os.getcwd()
    )
    assert output.stdout.strip() == "[]"


def test_json_log_lines(capsys: pytest.CaptureFixture[str]) -> None:
    from adapters.invocation_log import install_json_logging

    name = "steplane.test-json-lines"
    assert install_json_logging(name)
    try:
        logger = logging.getLogger(name)
        logger.info('{"run_id": "run_1", "outcome": "ok"}')
        logger.warning("plain words")
    finally:
        logging.getLogger(name).handlers.clear()
    first, second = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert first["run_id"] == "run_1" and first["level"] == "INFO" and first["logger"] == name
    assert second["message"] == "plain words" and second["time"].endswith("Z")


# --- every engine scenario through the Lambda handler -----------------------------------------


class LambdaDriver:
    """Plays Lambda's SQS event source mapping for one warm instance: receives batches of up
    to 10 from the memory World's queue, calls `handler(event, None)` with a real-shaped SQS
    event, deletes what succeeded and lets failed records come back after a backoff."""

    def __init__(
        self,
        modules: Iterable[str] = (),
        virtual_time: bool = False,
        cache_size: int = 256,
        concurrency: int = 10,
        max_receives: int = 5,
    ) -> None:
        self.modules = list(modules)
        self.virtual_time = virtual_time
        self.cache_size = cache_size
        self.batch_size = min(10, concurrency)
        self.clock = VirtualClock() if virtual_time else RealClock()
        self.world = MemoryWorld(clock=self.clock, max_receives=max_receives)
        self.invocation_counts: collections.Counter[str] = collections.Counter()
        self._previous: World | None = None
        self._poller: asyncio.Task[None] | None = None
        self._batch: asyncio.Future[dict] | None = None

    def workflow_invocations(self, run_id: str) -> int:
        return self.invocation_counts[f"workflow:{run_id}"]

    async def __aenter__(self) -> LambdaDriver:
        for module in self.modules:
            importlib.import_module(module)
        self._previous = set_world(self.world)
        self._poller = asyncio.create_task(self._poll())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._poller is not None
        self._poller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._poller
        if self._batch is not None:  # the instance finishes its batch before the next test
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._batch, timeout=10)
        set_world(self._previous)
        await self.world.close()

    async def _poll(self) -> None:
        queue = self.world.queue
        while True:
            deliveries = await queue.receive(
                max_messages=self.batch_size,
                wait_seconds=0.0 if self.virtual_time else 0.05,
                visibility_timeout=300,
            )
            if not deliveries:
                if not self.virtual_time:
                    continue
                next_visible = queue.next_visible_at()
                if next_visible is not None:
                    self.clock.advance_to(next_visible)
                else:
                    await asyncio.sleep(0.02)
                continue
            for delivery in deliveries:
                self.invocation_counts[f"{delivery.body['kind']}:{delivery.body['run_id']}"] += 1
            self._batch = asyncio.ensure_future(call(sqs_event(deliveries)))
            result = await asyncio.shield(self._batch)
            failed = {item["itemIdentifier"] for item in result["batchItemFailures"]}
            for delivery in deliveries:
                if delivery.message_id in failed:
                    backoff = min(5.0, 0.05 * 2**delivery.receive_count)
                    await queue.change_visibility(delivery, backoff)
                else:
                    await queue.delete(delivery)


@pytest.fixture
def make_emulator(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    @asynccontextmanager
    async def make(**options: Any) -> AsyncIterator[LambdaDriver]:
        options.setdefault("modules", ["tests.engine.workflows"])
        wf.calls.clear()  # side effects of earlier runs of the same scenario
        monkeypatch.setenv(lambda_handler.CACHE_SIZE_ENV, str(options.get("cache_size", 256)))
        # The driver plays one instance, one batch at a time: configured as the template
        # configures a function with one reserved instance, which does not wait in place for
        # the steps it queues (their messages would wait behind it, 3 s a scenario). The
        # handler waiting in place: tests/test_lambda_timeouts.py; the engine's, on both
        # Worlds, in process and over HTTP /invoke: tests/engine/test_wait_in_place.py.
        monkeypatch.setenv(WAIT_ENV, "0")
        async with LambdaDriver(**options) as driver:
            yield driver

    return make


# Each scenario of tests/engine/test_scenarios.py runs here again, with `make_emulator` above.
for _name, _scenario in vars(_scenarios).items():
    if _name.startswith("test_") and callable(_scenario):
        globals()[f"test_via_sqs__{_name.removeprefix('test_')}"] = _scenario
