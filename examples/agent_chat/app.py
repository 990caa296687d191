"""The chat page's HTTP side, mounted by `steplane dev examples.agent_chat` at `/chat`:

- `GET  /chat`                                  the page (chat.html: plain HTML and JS)
- `POST /chat/sessions` `{"message"}`           starts a session; the run id comes back in
                                                the `X-Steplane-Run-Id` header (and the body)
- `GET  /chat/sessions/{run_id}/events`         the session's stream as Server-Sent Events;
                                                `Last-Event-ID` resumes after that chunk
- `POST /chat/sessions/{run_id}/reply` `{"token", "payload"}`  answers the hook the stream
                                                announced (an approval, the next message)

The run id is the session: a second browser that opens `/chat#<run_id>` follows the same run.
A demo on localhost: a deployment would put its own authentication in front.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from steplane.adapters.http.sse import sse_events
from steplane.runtime import Client, HookNotFoundError

from .flights import chat

RUN_ID_HEADER = "X-Steplane-Run-Id"
PAGE = Path(__file__).with_name("chat.html")


def _start_index(request: Request) -> int:
    last = request.headers.get("last-event-id", "").strip()
    if last.isascii() and last.isdigit():
        return int(last) + 1
    raw = request.query_params.get("start_index", "0")
    return int(raw) if raw.isascii() and raw.isdigit() else 0


def http_routes(client: Client) -> list[BaseRoute]:
    """The example's routes, on the emulator's World (`steplane dev` calls this)."""

    async def page(request: Request) -> Response:
        return HTMLResponse(PAGE.read_text())

    async def start_session(request: Request) -> Response:
        body: Any = await request.json()
        message = body.get("message") if isinstance(body, dict) else None
        if not isinstance(message, str) or not message.strip():
            return JSONResponse({"error": 'send {"message": "..."}'}, status_code=400)
        run = await client.start(chat, message.strip())
        return JSONResponse(
            {"run_id": run.run_id}, status_code=201, headers={RUN_ID_HEADER: run.run_id}
        )

    async def events(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        start = _start_index(request)
        chunks = client.get_run(run_id).stream(None, start)
        return StreamingResponse(
            sse_events(chunks, start, heartbeat=10.0),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", RUN_ID_HEADER: run_id},
        )

    async def reply(request: Request) -> Response:
        body: Any = await request.json()
        if not isinstance(body, dict) or not isinstance(body.get("token"), str):
            return JSONResponse({"error": 'send {"token", "payload"}'}, status_code=400)
        try:
            run_id = await client.resume_hook(body["token"], body.get("payload"))
        except HookNotFoundError:
            return JSONResponse({"error": "already answered"}, status_code=409)
        return JSONResponse({"run_id": run_id}, headers={RUN_ID_HEADER: run_id})

    return [
        Route("/chat", page, methods=["GET"]),
        Route("/chat/sessions", start_session, methods=["POST"]),
        Route("/chat/sessions/{run_id}/events", events, methods=["GET"]),
        Route("/chat/sessions/{run_id}/reply", reply, methods=["POST"]),
    ]
