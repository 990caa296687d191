"""Hostile HTTP input, one case per attack: every answer is a 4xx naming the problem in one
JSON line, and a refused request records nothing (issue 8, items 2 and 3)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn

from adapters.http.ratelimit import Rate
from adapters.signing import sign
from local_emulator import Emulator
from runtime import start
from tests.engine import workflows as wf
from tests.engine.test_scenarios import _wait_for_event
from tests.security import workflows as sw

from .conftest import AUTH, SECRET, make_app

ADDITION = wf.addition.__steplane_workflow__.name
DEEP = b"[" * 100_000 + b"]" * 100_000


def _one_line_error(response: httpx.Response) -> str:
    assert "\n" not in response.text.strip()
    assert "Traceback" not in response.text
    return response.json()["error"]


async def _state(emu: Emulator) -> tuple[int, int]:
    runs = (await emu.world.runs.list(limit=1000)).items
    events = sum([len(await emu.world.log.read(r.run_id)) for r in runs])
    return len(runs), events


def _wake(run_id: str) -> bytes:
    return json.dumps({"v": 1, "kind": "workflow", "run_id": run_id, "workflow": ADDITION}).encode()


# --- body size -------------------------------------------------------------------------------


@pytest.fixture
async def served(emu: Emulator) -> AsyncIterator[int]:
    """The app on a real uvicorn, 127.0.0.1, a free port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(make_app(emu), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    yield sock.getsockname()[1]
    server.should_exit = True
    await asyncio.wait_for(task, 10)


@pytest.mark.parametrize("path", ["/v1/runs", "/v1/hooks/some-token", "/invoke"])
async def test_oversize_content_length_is_413_without_reading_the_body(emu, served, path) -> None:
    before = await _state(emu)
    reader, writer = await asyncio.open_connection("127.0.0.1", served)
    started = time.monotonic()
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer security-key\r\n"
        f"Content-Type: application/json\r\nContent-Length: {10**9}\r\n\r\n".encode()
        + b"[1"  # and then nothing: a server that waits for the body never answers
    )
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(4096), 5)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert b"larger than the limit of 65536 bytes" in answer
    assert time.monotonic() - started < 2
    assert await _state(emu) == before


async def test_chunked_oversize_body_is_413_while_streaming(emu, served) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(1000):  # up to 64 MB if nobody stops us
            sent += 65536
            yield b" " * 65536

    before = await _state(emu)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{served}", trust_env=False) as http:
        try:
            response = await http.post("/v1/runs", content=chunks(), headers=AUTH)
        except httpx.HTTPError:  # the server may close before the sender finishes
            response = None
    if response is not None:
        assert response.status_code == 413
        assert "larger than the limit" in _one_line_error(response)
    assert sent < 64 * 1024 * 1024  # stopped long before the end
    assert await _state(emu) == before


async def test_chunked_oversize_over_asgi(emu, client) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"x" * 40_000

    response = await client.post("/v1/runs", content=chunks(), headers=AUTH)
    assert response.status_code == 413
    assert "limit of 65536" in _one_line_error(response)
    # The webhook checks the token before it reads a byte: an unknown one is 404 at once.
    response = await client.post("/v1/hooks/t", content=chunks())
    assert response.status_code == 404


# --- JSON nesting and malformed bodies -------------------------------------------------------


async def test_deep_nesting_is_400_on_every_json_route(emu, client) -> None:
    before = await _state(emu)
    for path, headers in [
        ("/v1/runs", AUTH),
        ("/v1/hooks/any-token", {}),
        ("/invoke", sign(SECRET, DEEP[:60_000])),
    ]:
        body = DEEP[:60_000] if path == "/invoke" else DEEP[:30_000] + DEEP[-30_000:]
        response = await client.post(path, content=body, headers=headers)
        if path == "/v1/hooks/any-token":
            assert response.status_code == 404  # the token is checked before the body is parsed
            continue
        assert response.status_code == 400, (path, response.text)
        assert "nested deeper than 64 levels" in _one_line_error(response)
    assert await _state(emu) == before


async def test_deep_nesting_in_a_live_hooks_payload_is_400(emu, client) -> None:
    run = await start(wf.hold_hook, "deep-hook")
    await _wait_for_event(run, "hook_created")
    before = await _state(emu)
    response = await client.post("/v1/hooks/deep-hook", content=b"[" * 30_000 + b"]" * 30_000)
    assert response.status_code == 400
    assert "nested deeper" in _one_line_error(response)
    assert await _state(emu) == before


@pytest.mark.parametrize(
    "body",
    [b"{", b"nul", b'{"workflow": 1}', b"[]", b'{"workflow": "x", "args": {}}', b"\xff\xfe"],
    ids=["truncated", "not-json", "name-not-str", "not-object", "args-not-list", "not-utf8"],
)
async def test_malformed_start_bodies_are_400(emu, client, body) -> None:
    before = await _state(emu)
    response = await client.post("/v1/runs", content=body, headers=AUTH)
    assert response.status_code == 400, response.text
    assert _one_line_error(response)
    assert await _state(emu) == before


async def test_unknown_workflow_start_is_404(emu, client) -> None:
    response = await client.post("/v1/runs", json={"workflow": "no.such:wf"}, headers=AUTH)
    assert response.status_code == 404
    assert "no.such:wf" in _one_line_error(response)


async def test_invoke_for_an_unknown_run_is_404(emu, client) -> None:
    body = _wake("run_doesnotexist")
    response = await client.post("/invoke", content=body, headers=sign(SECRET, body))
    assert response.status_code == 404
    assert "run_doesnotexist" in _one_line_error(response)


@pytest.mark.parametrize("body", [b"not json", b"{}", b'{"v": 1, "kind": "x"}', b"[1,2]"])
async def test_malformed_invoke_messages_are_400(emu, client, body) -> None:
    response = await client.post("/invoke", content=body, headers=sign(SECRET, body))
    assert response.status_code == 400
    assert _one_line_error(response)


# --- signatures --------------------------------------------------------------------------------


async def _pending(emu: Emulator) -> tuple[str, bytes]:
    run = await start(wf.hold_hook, f"sig-{time.monotonic_ns()}")
    await _wait_for_event(run, "hook_created")
    return run.run_id, _wake(run.run_id)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h: {**h, "X-Steplane-Receive-Count": "5"},
        lambda h: {k: v for k, v in h.items() if k != "X-Steplane-Receive-Count"},
        lambda h: {**h, "X-Steplane-Nonce": "another-nonce-1"},
        lambda h: {k: v for k, v in h.items() if k != "X-Steplane-Nonce"},
    ],
    ids=["receive-count-changed", "receive-count-removed", "nonce-changed", "nonce-removed"],
)
async def test_tampered_signed_headers_are_401(emu, client, tamper) -> None:
    _, body = await _pending(emu)
    before = await _state(emu)
    headers = tamper(sign(SECRET, body, receive_count=1))
    response = await client.post("/invoke", content=body, headers=headers)
    assert response.status_code == 401
    assert _one_line_error(response)
    assert await _state(emu) == before


async def test_a_replayed_signature_is_401(emu, client) -> None:
    _, body = await _pending(emu)
    headers = sign(SECRET, body)
    first = await client.post("/invoke", content=body, headers=headers)
    assert first.status_code == 200
    before = await _state(emu)
    again = await client.post("/invoke", content=body, headers=headers)
    assert again.status_code == 401
    assert "replayed" in _one_line_error(again)
    assert await _state(emu) == before
    fresh = await client.post("/invoke", content=body, headers=sign(SECRET, body))
    assert fresh.status_code == 200  # a redelivery signs afresh and is accepted


@pytest.mark.parametrize(("offset", "problem"), [(-3600, "stale"), (3600, "future")])
async def test_stale_and_future_signatures_are_401(emu, client, offset, problem) -> None:
    _, body = await _pending(emu)
    headers = sign(SECRET, body, now=time.time() + offset)
    response = await client.post("/invoke", content=body, headers=headers)
    assert response.status_code == 401
    assert problem in _one_line_error(response)


# --- the webhook: rate limits and signatures ---------------------------------------------------


async def test_webhook_rate_limit_per_token_is_429_with_retry_after(emu) -> None:
    app = make_app(emu, webhook_token_rate=Rate(0.5, 2))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://s") as http:
        codes = [(await http.post("/v1/hooks/guess-me", json=1)).status_code for _ in range(4)]
        assert codes == [404, 404, 429, 429]
        limited = await http.post("/v1/hooks/guess-me", json=1)
        assert int(limited.headers["Retry-After"]) >= 1
        assert "too many requests for this hook" in _one_line_error(limited)
        assert (await http.post("/v1/hooks/other-token", json=1)).status_code == 404


async def test_webhook_rate_limit_per_client(emu) -> None:
    app = make_app(emu, webhook_client_rate=Rate(0.5, 3))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://s") as http:
        codes = [(await http.post(f"/v1/hooks/t{i}", json=1)).status_code for i in range(5)]
    assert codes == [404, 404, 404, 429, 429]


def _github_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def test_webhook_signature_good_bad_missing(emu, client) -> None:
    run = await start(sw.signed_hook, "order:42", "whsec_test")
    await _wait_for_event(run, "hook_created")
    body = b'{"approved": true}'
    before = await _state(emu)
    for headers, problem in [
        ({}, "missing webhook signature"),
        ({"X-Steplane-Signature": "sha256=" + "0" * 64}, "wrong webhook signature"),
        ({"X-Steplane-Signature": _github_signature("other", body)}, "wrong webhook signature"),
        ({"X-Steplane-Signature": "md5=abc"}, "malformed"),
    ]:
        response = await client.post("/v1/hooks/order:42", content=body, headers=headers)
        assert response.status_code == 401, response.text
        assert problem in _one_line_error(response)
    assert await _state(emu) == before  # nothing recorded
    good = {"X-Steplane-Signature": _github_signature("whsec_test", body)}
    response = await client.post("/v1/hooks/order:42", content=body, headers=good)
    assert response.status_code == 200, response.text
    assert await run.result(timeout=10) == {"approved": True}


async def test_webhook_signature_in_a_configured_header(emu, client) -> None:
    run = await start(sw.custom_header_hook, "gh:1", "whsec_gh")
    await _wait_for_event(run, "hook_created")
    body = b'"pushed"'
    wrong_header = {"X-Steplane-Signature": _github_signature("whsec_gh", body)}
    assert (
        await client.post("/v1/hooks/gh:1", content=body, headers=wrong_header)
    ).status_code == 401
    right = {"X-Hub-Signature-256": _github_signature("whsec_gh", body)}
    assert (await client.post("/v1/hooks/gh:1", content=body, headers=right)).status_code == 200
    assert await run.result(timeout=10) == "pushed"


async def test_webhook_secret_is_never_in_clear_in_the_world(emu) -> None:
    run = await start(sw.signed_hook, "order:43", "whsec_private_value")
    await _wait_for_event(run, "hook_created")
    stored = repr(await emu.world.log.read(run.run_id)) + repr(vars(emu.world.hooks))
    assert "whsec_private_value" not in stored and "order:43" not in stored
