"""Streams as Server-Sent Events, read over a real socket from the app uvicorn serves
(`Emulator(invoke="http")`), with a client that disconnects and resumes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from adapters.http import create_app
from adapters.http.sse import sse_events
from local_emulator import Emulator
from runtime import get_writable, start, step, workflow
from tests.engine import workflows as wf


@step
async def tick(count: int, pause: float) -> int:
    writer = get_writable("ticks")
    for i in range(count):
        await writer.write({"tick": i})
        await asyncio.sleep(pause)
    await writer.close()
    return count


@workflow
async def ticking(count: int, pause: float) -> int:
    return await tick(count, pause)


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(modules=["tests.engine.workflows"], world="memory", invoke="http") as e:
        yield e


@pytest.fixture
async def client(emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {emu.api_key}"}
    async with httpx.AsyncClient(
        base_url=emu.http_url, headers=headers, timeout=10, trust_env=False
    ) as client:
        yield client


async def read_sse(
    client: httpx.AsyncClient, path: str, *, limit: int | None = None, **headers: str
) -> list[dict[str, Any]]:
    """Events of an SSE response as dicts (`id`, `event`, `data`); stops after `limit`
    chunk events by closing the connection, as a client that goes away would."""
    events: list[dict[str, Any]] = []
    async with client.stream("GET", path, headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, Any] = {}
        async for line in response.aiter_lines():
            if line.startswith(":"):
                continue
            if line:
                name, _, value = line.partition(": ")
                fields[name] = value
                continue
            if fields:
                if "data" in fields:
                    fields["data"] = json.loads(fields["data"])
                events.append(fields)
                fields = {}
            if limit is not None and sum("id" in e for e in events) >= limit:
                break
    return events


async def test_disconnect_after_two_chunks_and_resume_with_last_event_id(emu, client) -> None:
    run = await start(ticking, 6, 0.05)
    path = f"/v1/runs/{run.run_id}/streams/ticks"
    first = await read_sse(client, path, limit=2)
    assert [e["id"] for e in first] == ["0", "1"]
    rest = await read_sse(client, path, **{"Last-Event-ID": first[-1]["id"]})
    assert rest[-1] == {"event": "end", "data": {}}
    chunks = first + rest[:-1]
    assert [e["id"] for e in chunks] == [str(i) for i in range(6)]  # each exactly once
    assert [e["data"] for e in chunks] == [{"tick": i} for i in range(6)]
    assert await run.result(timeout=10) == 6


async def test_start_index_and_tagged_chunks_on_the_default_stream(emu, client) -> None:
    run = await start(wf.streaming, 2)
    assert await run.result(timeout=10) == 2
    events = await read_sse(client, f"/v1/runs/{run.run_id}/streams/default?start_index=1")
    assert [(e.get("id"), e["data"]) for e in events] == [
        ("1", {"progress": 1}),
        ("2", {"$t": "bytes", "v": "AHJhdw=="}),  # b"\x00raw"
        ("3", "done"),
        (None, {}),  # the end event
    ]
    beyond = await read_sse(client, f"/v1/runs/{run.run_id}/streams/default?start_index=99")
    assert beyond == [{"event": "end", "data": {}}]


async def test_stream_of_an_ended_run_ends_even_if_never_closed(emu, client) -> None:
    run = await start(wf.addition, 1, 2)
    await run.result(timeout=10)
    events = await read_sse(client, f"/v1/runs/{run.run_id}/streams/never-written")
    assert events == [{"event": "end", "data": {}}]


@pytest.mark.parametrize(
    ("query", "headers"),
    [("?start_index=-1", {}), ("", {"Last-Event-ID": "x"})],
    ids=["start-index", "last-event-id"],
)
async def test_bad_positions_are_400(emu, client, query, headers) -> None:
    run = await start(wf.addition, 1, 2)
    response = await client.get(f"/v1/runs/{run.run_id}/streams/default{query}", headers=headers)
    assert response.status_code == 400


async def test_heartbeats_while_waiting() -> None:
    async def slow() -> AsyncIterator[str]:
        await asyncio.sleep(0.05)
        yield "late"

    out = [event async for event in sse_events(slow(), 7, heartbeat=0.01)]
    assert out[0] == b": keep-alive\n\n"
    assert out[-2:] == [b'id: 7\ndata: "late"\n\n', b"event: end\ndata: {}\n\n"]


async def test_chunks_need_a_key_that_may_decrypt_and_each_read_is_audited(emu, caplog) -> None:
    """Stream chunks are user values, like `?decrypt=true` events: a key that may not decrypt
    gets 403 and leaves no record; each read with one that may is audited first, as
    `steplane runs streams` is."""
    run = await start(wf.streaming, 2)
    assert await run.result(timeout=10) == 2
    app = create_app(emu.world, signing_secret="s", api_keys=["plain"], decrypt_api_keys=["dk"])
    path = f"/v1/runs/{run.run_id}/streams/default"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
        with caplog.at_level("WARNING", logger="steplane.audit"):
            refused = await c.get(path, headers={"Authorization": "Bearer plain"})
            assert refused.status_code == 403 and "may not decrypt" in refused.json()["error"]
            assert "progress" not in refused.text
            assert not [r for r in caplog.records if r.name == "steplane.audit"]
            for _ in range(2):
                read = await c.get(path, headers={"Authorization": "Bearer dk"})
                assert read.status_code == 200 and 'id: 1\ndata: {"progress":1}' in read.text
            missing = await c.get(
                "/v1/runs/run_nothere/streams/default", headers={"Authorization": "Bearer dk"}
            )
            assert missing.status_code == 404
    records = [json.loads(r.getMessage()) for r in caplog.records if r.name == "steplane.audit"]
    assert [(r["audit"], r["run_id"], r["via"]) for r in records] == [
        ("decrypt", run.run_id, "http")
    ] * 2
    assert all(r["actor"].startswith("api key key_") for r in records)
