"""The request body size limit, applied before any route reads a byte (413).

`BodyLimit` is raw ASGI middleware:

- a `Content-Length` over the limit is answered 413 at once, and the body is never read;
- a body without one (chunked) is counted as it streams in, and reading fails with 413 as
  soon as it passes the limit, so a hostile sender cannot make the host buffer gigabytes.

The JSON nesting limit is in `json_input.py`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .responses import ApiError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_MAX_BODY_BYTES = 6 * 1024 * 1024
"""6 MiB: what a Lambda function can receive anyway; hook payloads and run arguments fit."""


class BodyTooLarge(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than the limit of {limit} bytes")


class BodyLimit:
    """ASGI middleware: no request body longer than `max_bytes` reaches the app."""

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _answer(send, BodyTooLarge(self.max_bytes))
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)  # the app's handler answers 413
            return message

        await self.app(scope, counting_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers") or ():
        if name.lower() == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _answer(send: Send, error: ApiError) -> None:
    body = json.dumps({"error": error.message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),  # the unread body makes the connection unusable
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
