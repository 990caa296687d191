"""A local OpenAI-compatible chat-completions server (Starlette), scripted: asked about a
city, it calls `get_weather`; given the tool's result, it answers with it, streamed in pieces
the way the real API streams (`chat.completion.chunk` events over SSE)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

requests: list[dict[str, Any]] = []


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {
        "id": "chatcmpl-local",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": "gpt-fake",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n".encode()


def _reply(messages: list[dict[str, Any]]) -> tuple[str | None, dict[str, Any] | None]:
    results = [m["content"] for m in messages if m.get("role") == "tool"]
    if results:
        return f"The weather: {results[-1]}.", None
    return None, {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": json.dumps({"city": "Paris"})},
    }


async def completions(request: Request) -> Response:
    body = await request.json()
    requests.append(body)
    text, call = _reply(body["messages"])
    if not body.get("stream"):
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if call:
            message["tool_calls"] = [call]
        return JSONResponse(
            {
                "id": "chatcmpl-local",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": "gpt-fake",
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": "tool_calls" if call else "stop",
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            }
        )

    async def stream() -> AsyncIterator[bytes]:
        yield _chunk({"role": "assistant", "content": ""})
        if call:
            yield _chunk({"tool_calls": [{"index": 0, **call}]})
            yield _chunk({}, "tool_calls")
        else:
            for word in (text or "").split(" "):
                yield _chunk({"content": word + " "})
            yield _chunk({}, "stop")
        yield b"data: [DONE]\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream")


app = Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])
