"""The example chat app over real HTTP (uvicorn on 127.0.0.1): a session starts, streams, asks
for approval; a client that drops mid-answer and reconnects with `Last-Event-ID` gets exactly
the rest; a second client opening the session by its run id sees the same chunks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from examples.agent_chat import http_routes
from examples.agent_chat.app import RUN_ID_HEADER
from local_emulator import Emulator
from local_emulator.dev import free_port


@pytest.fixture
async def chat_url() -> AsyncIterator[str]:
    async with Emulator(world="memory", modules=["examples.agent_chat"]) as emu:
        app = Starlette(routes=http_routes(emu.runtime_client))
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
        serving = asyncio.create_task(server.serve())
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.01)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            await asyncio.wait_for(serving, 10)


async def sse(
    client: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None
) -> AsyncIterator[tuple[int, Any]]:
    """(id, chunk) of each event, as a browser's EventSource sees them."""
    async with client.stream("GET", url, headers=headers or {}) as response:
        assert response.status_code == 200
        event_id = None
        async for line in response.aiter_lines():
            if line.startswith("id: "):
                event_id = int(line[4:])
            elif line.startswith("data: ") and event_id is not None:
                yield event_id, json.loads(line[6:])
                event_id = None


async def until(events: AsyncIterator[tuple[int, Any]], kind: str) -> list[tuple[int, Any]]:
    seen = []
    async for event in events:
        seen.append(event)
        if event[1]["type"] == kind:
            break
    return seen


async def test_a_dropped_client_resumes_with_last_event_id_and_gets_exactly_the_rest(
    chat_url: str,
) -> None:
    async with httpx.AsyncClient(base_url=chat_url, timeout=30) as client:
        assert "EventSource" in (await client.get("/chat")).text
        started = await client.post("/chat/sessions", json={"message": "Fly from Oslo to Rome"})
        assert started.status_code == 201
        run_id = started.headers[RUN_ID_HEADER]
        events_url = f"/chat/sessions/{run_id}/events"

        first: list[tuple[int, Any]] = []
        events = sse(client, events_url)
        first += await asyncio.wait_for(until(events, "approval_required"), 30)
        approval = first[-1][1]
        assert approval["tool_name"] == "book_flight"
        answered = await client.post(
            f"/chat/sessions/{run_id}/reply",
            json={"token": approval["token"], "payload": {"approved": True}},
        )
        assert answered.status_code == 200
        deltas = 0
        async for event in events:  # read into the answer, then drop the connection
            first.append(event)
            deltas += event[1]["type"] == "text_delta"
            if deltas == 3:
                break
        await events.aclose()

        last_id = first[-1][0]
        rest = await asyncio.wait_for(
            until(sse(client, events_url, {"Last-Event-ID": str(last_id)}), "waiting_for_user"), 30
        )
        second_browser = await asyncio.wait_for(
            until(sse(client, events_url), "waiting_for_user"), 30
        )

        assert [i for i, _ in first + rest] == list(range(len(first + rest)))  # no gap, no repeat
        assert first + rest == second_browser
        answer = "".join(c["delta"] for _, c in first + rest if c["type"] == "text_delta")
        assert answer.startswith("You are booked on SL") and "from Oslo to Rome" in answer
        assert {"type": "answer", "output": answer} in [c for _, c in rest]

        waiting = rest[-1][1]["token"]  # end the session: an empty next message
        await client.post(f"/chat/sessions/{run_id}/reply", json={"token": waiting, "payload": {}})
        again = await client.post(
            f"/chat/sessions/{run_id}/reply", json={"token": waiting, "payload": {}}
        )
        assert again.status_code == 409


def test_steplane_dev_mounts_the_routes_a_served_module_offers() -> None:
    from local_emulator.dev import module_routes
    from runtime import Client

    client = Client(None)  # type: ignore[arg-type]  # routes only keep it for later requests
    paths = [route.path for route in module_routes(["examples.agent_chat"], client)]
    assert paths == [
        "/chat",
        "/chat/sessions",
        "/chat/sessions/{run_id}/events",
        "/chat/sessions/{run_id}/reply",
    ]
    assert module_routes(["examples.checkout"], client) == []
