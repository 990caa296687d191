"""Request signing and `POST /invoke`: only signed, fresh requests reach the function host.

A run is started on a World that no poller drains, so its workflow message is delivered only
by the requests these tests make: a refused request must leave the log and the queue as they
were.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from adapters.http import create_app
from adapters.memory import MemoryWorld
from adapters.signing import SignatureError, sign, verify
from runtime import WorkflowFailedError, get_run, start
from runtime.engine.workflow_invocation import WorkflowInvocation
from runtime.world import World
from tests.conftest import installed
from tests.engine import workflows as wf

SECRET = "test-signing-secret"


# --- adapters.signing -----------------------------------------------------------------------


def test_sign_then_verify() -> None:
    headers = sign(SECRET, b'{"a":1}', now=1_700_000_000)
    assert headers["X-Steplane-Timestamp"] == "1700000000"
    assert headers["X-Steplane-Signature"].startswith("v1=")
    verify(SECRET, b'{"a":1}', headers, now=1_700_000_100)
    lowered = {name.lower(): value for name, value in headers.items()}
    verify(SECRET.encode(), b'{"a":1}', lowered, now=1_700_000_000)  # any header case


@pytest.mark.parametrize(
    ("body", "headers", "now", "problem"),
    [
        (b"x", {}, 0, "unsigned request"),
        (b"x", {"X-Steplane-Timestamp": "100"}, 100, "unsigned request"),
        (b"x", {"X-Steplane-Timestamp": "soon", "X-Steplane-Signature": "v1=00"}, 0, "malformed"),
        (b"x", {"X-Steplane-Timestamp": "100", "X-Steplane-Signature": "sha1=ab"}, 100, "'v1="),
        (b"tampered", sign(SECRET, b"x", now=100), 100, "wrong signature"),
        (b"x", sign("another secret", b"x", now=100), 100, "wrong signature"),
        (b"x", sign(SECRET, b"x", now=100), 100 + 301, "stale request"),
        (b"x", sign(SECRET, b"x", now=1000), 1000 - 301, "in the future"),
    ],
    ids=["none", "no-signature", "bad-ts", "bad-scheme", "body", "secret", "stale", "future"],
)
def test_verify_refuses(body: bytes, headers: dict[str, str], now: float, problem: str) -> None:
    with pytest.raises(SignatureError, match=problem) as error:
        verify(SECRET, body, headers, now=now)
    assert "\n" not in str(error.value)


def test_rotation_accepts_any_listed_signature() -> None:
    old = sign("old", b"x", now=100, nonce="nonce-123")
    new = sign("new", b"x", now=100, nonce="nonce-123")["X-Steplane-Signature"]
    headers = {**old, "X-Steplane-Signature": f"{old['X-Steplane-Signature']}, {new}"}
    verify("new", b"x", headers, now=100)
    verify("old", b"x", headers, now=100)


# --- POST /invoke ---------------------------------------------------------------------------


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with installed(MemoryWorld()) as built:
        yield built


@pytest.fixture
async def client(world: World) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(world, signing_secret=SECRET, api_keys=["k"])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://steplane") as client:
        yield client


async def _pending_run(world: World) -> tuple[str, bytes]:
    """A started run whose workflow message is still on the queue; returns it as sent."""
    run = await start(wf.addition, 20, 22)
    [delivery] = await world.queue.receive(max_messages=1, visibility_timeout=0)  # peek
    return run.run_id, json.dumps(delivery.body).encode()


async def _snapshot(world: World, run_id: str) -> tuple[list[Any], int]:
    events = [event.event_id for event in await world.log.read(run_id)]
    return events, world.queue.depth()  # type: ignore[attr-defined]


async def _post(client: httpx.AsyncClient, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return await client.post("/invoke", content=body, headers=headers)


@pytest.mark.parametrize(
    "headers",
    [
        lambda body: {},
        lambda body: sign("not the secret", body),
        lambda body: sign(SECRET, body + b" "),
        lambda body: sign(SECRET, body, now=time.time() - 3600),  # a replayed old request
        lambda body: {**sign(SECRET, body), "X-Steplane-Timestamp": str(int(time.time()) + 1)},
    ],
    ids=["unsigned", "wrong-secret", "other-body", "stale-replay", "timestamp-swapped"],
)
async def test_refused_invocations_record_nothing(world, client, headers) -> None:
    run_id, body = await _pending_run(world)
    before = await _snapshot(world, run_id)
    response = await _post(client, body, headers(body))
    assert response.status_code == 401
    assert response.json()["error"]
    assert await _snapshot(world, run_id) == before
    assert (await world.runs.get(run_id)).status == "pending"


async def test_signed_invocation_runs_the_workflow(world, client) -> None:
    run_id, body = await _pending_run(world)
    headers = {**sign(SECRET, body), "X-Steplane-Receive-Count": "1"}
    response = await _post(client, body, headers)
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    record = await world.runs.get(run_id)
    assert record.status == "completed"


async def test_without_a_configured_secret_every_invocation_is_refused(world) -> None:
    run_id, body = await _pending_run(world)
    app = create_app(world, signing_secret=None, api_keys=["k"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
        response = await _post(c, body, sign(SECRET, body))
    assert response.status_code == 401
    assert "no signing secret" in response.json()["error"]
    assert (await world.runs.get(run_id)).status == "pending"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"not json", "not JSON"),
        (b'{"v": 1, "kind": "teleport", "run_id": "run_1"}', "unknown kind"),
        (b'{"v": 1, "kind": "workflow", "run_id": "run_1", "workflow": "gone:wf"}', "gone:wf"),
    ],
    ids=["not-json", "unknown-kind", "unknown-workflow"],
)
async def test_messages_that_can_never_succeed_are_400(client, body, problem) -> None:
    response = await _post(client, body, sign(SECRET, body))
    assert response.status_code == 400
    assert problem in response.json()["error"]


async def test_a_message_for_an_unknown_run_is_404(world, client) -> None:
    # Permanent (issue 8): a 5xx would make the deliverer retry a message that cannot succeed.
    body = b'{"v": 1, "kind": "workflow", "run_id": "run_nosuchrun", "workflow": "%s"}' % (
        wf.addition.__steplane_workflow__.name.encode()
    )
    response = await _post(client, body, sign(SECRET, body))
    assert response.status_code == 404
    assert "run_nosuchrun" in response.json()["error"]
    assert response.json()["run_ended"] is None  # nothing to end


async def test_transient_failures_are_500_until_the_last_receive(
    world, client, monkeypatch
) -> None:
    run_id, body = await _pending_run(world)

    async def unavailable(self: Any) -> None:
        raise ConnectionError("DynamoDB is unavailable")

    monkeypatch.setattr(WorkflowInvocation, "run", unavailable)
    first = await _post(client, body, {**sign(SECRET, body), "X-Steplane-Receive-Count": "1"})
    assert first.status_code == 500
    assert "DynamoDB is unavailable" in first.json()["error"]
    assert (await world.runs.get(run_id)).status == "pending"

    last = str(world.queue.max_receives)
    response = await _post(client, body, sign(SECRET, body, receive_count=int(last)))
    assert (response.status_code, response.json()["run_ended"]) == (400, "MAX_DELIVERIES_EXCEEDED")
    with pytest.raises(WorkflowFailedError) as failure:
        await get_run(run_id).result(timeout=1)
    assert failure.value.code == "MAX_DELIVERIES_EXCEEDED"
    assert failure.value.message == (
        "a workflow message failed 5 deliveries; "
        "last error: ConnectionError: DynamoDB is unavailable"
    )


async def test_bad_receive_count_header_is_400(world, client) -> None:
    run_id, body = await _pending_run(world)
    response = await _post(client, body, sign(SECRET, body, receive_count=0))
    assert response.status_code == 400
    assert (await world.runs.get(run_id)).status == "pending"
