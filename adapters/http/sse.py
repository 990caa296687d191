"""`GET /v1/runs/{run_id}/streams/{name}`: a run's stream as Server-Sent Events.

Each chunk is one event whose `id` is the chunk's index in the stream, so a client that
reconnects with `Last-Event-ID` (browsers' EventSource do this by themselves) resumes right
after the last chunk it saw: nothing missed, nothing twice. `?start_index=N` starts at chunk N;
`Last-Event-ID` wins when both are given, because a reconnect repeats the original URL.

The response ends with an `end` event when the stream is closed or the run has ended, which
tells EventSource clients not to reconnect. While no chunk arrives, a comment line is sent
every `heartbeat` seconds so that proxies do not close an idle connection.

Chunks are user values: the route needs a key that may decrypt (403 otherwise) and each
connection leaves an audit record before the first chunk, as `steplane runs streams` does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from steplane.runtime.describe import chunk_json
from steplane.runtime.errors import RunNotFoundError
from steplane.runtime.streams import stream_name

from .auth import api_key_required, audit_decrypt, require_decrypt
from .context import AppContext
from .responses import ApiError, compact_json

HEARTBEAT_SECONDS = 15.0
END_EVENT = b"event: end\ndata: {}\n\n"


def _start_index(request: Request) -> int:
    last_event_id = request.headers.get("last-event-id")
    if last_event_id is not None and last_event_id.strip():
        value = last_event_id.strip()
        if not value.isascii() or not value.isdigit():
            raise ApiError(400, "Last-Event-ID must be a chunk index")
        return int(value) + 1
    raw = request.query_params.get("start_index", "0") or "0"
    if not raw.isascii() or not raw.isdigit():
        raise ApiError(400, "query parameter 'start_index' must be a whole number >= 0")
    return int(raw)


def format_event(index: int, chunk: Any) -> bytes:
    """One SSE event: `id: <index>` and the chunk as one line of tagged JSON (the `index` and
    `data` of `runtime.describe.chunk_json`, as `steplane runs streams --json` prints them)."""
    shown = chunk_json(index, chunk)
    return f"id: {shown['index']}\ndata: {compact_json(shown['data'])}\n\n".encode()


async def sse_events(
    chunks: AsyncIterator[Any], start_index: int, heartbeat: float = HEARTBEAT_SECONDS
) -> AsyncIterator[bytes]:
    """Encode chunks as SSE events, with heartbeats while waiting for the next one.

    The next chunk is awaited in a task so that a heartbeat never interrupts the read; when
    the client goes away, cancelling that task also ends the underlying stream reader.
    """
    index = start_index
    pending: asyncio.Future[Any] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(chunks))
            done, _ = await asyncio.wait({pending}, timeout=heartbeat)
            if not done:
                yield b": keep-alive\n\n"
                continue
            finished, pending = pending, None
            try:
                chunk = finished.result()
            except StopAsyncIteration:
                break
            yield format_event(index, chunk)
            index += 1
        yield END_EVENT
    finally:
        if pending is not None:
            pending.cancel()


def routes(ctx: AppContext, heartbeat: float = HEARTBEAT_SECONDS) -> list[Route]:
    async def stream(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        start_index = _start_index(request)
        run = ctx.client.get_run(run_id)
        try:  # all checked before the response starts: a stream cannot turn into a 404
            name = stream_name(request.path_params["name"])
            require_decrypt(ctx, request)
            await run.record()
        except ValueError as error:
            raise ApiError(400, str(error)) from None
        except RunNotFoundError:
            raise ApiError(404, f"no run {run_id!r}") from None
        await audit_decrypt(ctx, request, run_id)
        chunks = run.stream(name, start_index)
        return StreamingResponse(
            sse_events(chunks, start_index, heartbeat),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    path = "/v1/runs/{run_id}/streams/{name}"
    return [Route(path, api_key_required(ctx, stream), methods=["GET"], name="run_stream")]
