"""Run an ASGI app on one API Gateway HTTP API (v2) / Lambda Function URL event.

The Lambda entry point hands HTTP events to the same Starlette app that uvicorn serves, through
this bridge instead of a dependency: the event becomes an ASGI `http` scope, the request body
is delivered once, and the response is collected into the payload format 2.0 result
(`statusCode`, `headers`, `cookies`, `body`, `isBase64Encoded`). Lambda buffers responses, so
a streaming response (SSE) is returned whole when it ends.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]

_TEXT_TYPES = ("text/", "application/json", "application/problem+json", "+json")


def is_http_event(event: Any) -> bool:
    """An API Gateway v2 or Function URL request (payload format 2.0)."""
    return (
        isinstance(event, dict)
        and isinstance(event.get("requestContext"), dict)
        and isinstance(event["requestContext"].get("http"), dict)
    )


def _latin1(text: str) -> bytes:
    return text.encode("latin-1", errors="replace")


def scope_for(event: dict[str, Any], context: Any = None) -> Scope:
    """The ASGI scope of an HTTP event. A named API Gateway stage becomes the root path."""
    request_context = event["requestContext"]
    http = request_context["http"]
    raw_path = event.get("rawPath") or http.get("path") or "/"
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    header_list = [(_latin1(name), _latin1(value)) for name, value in headers.items()]
    if event.get("cookies"):
        header_list.append((b"cookie", _latin1("; ".join(event["cookies"]))))
    stage = request_context.get("stage")
    root_path = ""
    if stage and stage != "$default" and (raw_path + "/").startswith(f"/{stage}/"):
        root_path = f"/{stage}"
    host = headers.get("host") or request_context.get("domainName") or "lambda"
    port = int(headers.get("x-forwarded-port", "443") or 443)
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": str(http.get("method", "GET")).upper(),
        "scheme": headers.get("x-forwarded-proto", "https"),
        "path": unquote(raw_path),
        "raw_path": raw_path.encode(),
        "root_path": root_path,
        "query_string": (event.get("rawQueryString") or "").encode(),
        "headers": header_list,
        "client": (http.get("sourceIp") or "0.0.0.0", 0),
        "server": (host, port),
        "state": {},
        "aws.event": event,
        "aws.context": context,
    }


def _body(event: dict[str, Any]) -> bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(body)
    return body.encode()


def _is_text(content_type: str) -> bool:
    content_type = content_type.split(";")[0].strip().lower()
    return any(marker in content_type for marker in _TEXT_TYPES)


def _result(status: int, raw_headers: list[tuple[bytes, bytes]], body: bytes) -> dict[str, Any]:
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for raw_name, raw_value in raw_headers:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        if name == "set-cookie":
            cookies.append(value)
        else:
            headers[name] = f"{headers[name]},{value}" if name in headers else value
    result: dict[str, Any] = {"statusCode": status, "headers": headers}
    if cookies:
        result["cookies"] = cookies
    if _is_text(headers.get("content-type", "")):
        try:
            result.update(body=body.decode("utf-8"), isBase64Encoded=False)
            return result
        except UnicodeDecodeError:
            pass
    result.update(body=base64.b64encode(body).decode("ascii"), isBase64Encoded=bool(body))
    return result


async def call_asgi(app: ASGIApp, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Run `app` on the event and return the Lambda proxy result."""
    scope = scope_for(event, context)
    request_body = _body(event)
    request_sent = False
    response_done = asyncio.Event()
    status = 500
    headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []
    started = False

    async def receive() -> Message:
        nonlocal request_sent
        if not request_sent:
            request_sent = True
            return {"type": "http.request", "body": request_body, "more_body": False}
        await response_done.wait()  # the "client" stays until the response is complete
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status, headers, started
        if message["type"] == "http.response.start":
            started = True
            status = int(message["status"])
            headers = list(message.get("headers") or [])
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                response_done.set()

    try:
        await app(scope, receive, send)
    except Exception as error:
        if not (started and response_done.is_set()):
            error_body = json.dumps({"error": f"internal error: {type(error).__name__}: {error}"})
            return _result(500, [(b"content-type", b"application/json")], error_body.encode())
        # Starlette re-raises after sending its 500 response: that response stands.
    finally:
        response_done.set()
    return _result(status, headers, b"".join(chunks))
