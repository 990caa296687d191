"""JSON responses and errors shared by the routes: every error body is `{"error": "<one line>"}`.

Routes raise `ApiError` where they decide a status; the app's exception handlers turn it (and
Starlette's own 404/405) into the same JSON shape, so clients parse one format.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .json_input import JsonInputError, loads_bounded

log = logging.getLogger("steplane.http")


class ApiError(Exception):
    """An HTTP error with a one-line message; `headers` are added to the response."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = one_line(message)
        self.headers = headers


def one_line(text: object) -> str:
    return " ".join(str(text).split()) or "error"


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": one_line(message)}, status_code=status, headers=headers)


def compact_json(value: Any) -> str:
    """One line of JSON (SSE data and log lines must not contain raw newlines)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


async def json_body(request: Request, *, empty: Any = ...) -> Any:
    """The request body parsed as JSON; `empty` is returned for an empty body if given.
    Nesting past `json_input.DEFAULT_MAX_JSON_DEPTH` is refused before parsing (400)."""
    raw = await request.body()
    if not raw.strip():
        if empty is not ...:
            return empty
        raise ApiError(400, "the request body must be JSON")
    try:
        return loads_bounded(raw)
    except JsonInputError as error:
        raise ApiError(400, str(error)) from None


async def handle_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message, exc.headers)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=exc.headers)
    return error_response(exc.status_code, str(exc.detail), exc.headers)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    """A bug or an outage: the traceback goes to the log, the client gets one line naming
    the exception type only (its message may hold internals)."""
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, f"internal error: {type(exc).__name__} (details in the server log)")
