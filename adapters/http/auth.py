"""API-key authentication for the run API (docs/invariants.md #6).

Keys travel as `Authorization: Bearer <key>`. A route wrapped with `api_key_required` refuses
a missing or unknown key with 401 before its body runs, so an unauthenticated request reads and
records nothing. The hook webhook is deliberately not wrapped: its unguessable token is the
credential users hand to third parties.

Reading user values in the clear (`?decrypt=true` events, stream chunks) also needs a key that
may decrypt (`require_decrypt`, else 403) and leaves an audit record first (`audit_decrypt`).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from steplane.runtime.engine.audit import record_decrypt

from .context import AppContext, key_id
from .responses import ApiError
from .session import request_session_key

Endpoint = Callable[[Request], Awaitable[Response]]

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="steplane"'}


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def require_api_key(ctx: AppContext, request: Request) -> str:
    """The caller's API key; ApiError(401) unless it is one of the configured keys. With the
    web UI on, a valid session cookie stands for the key it was made with (session.py)."""
    if not ctx.api_keys:
        raise ApiError(401, "the run API is disabled: no API keys configured", _CHALLENGE)
    token = bearer_token(request)
    if token is None and ctx.ui:
        key = request_session_key(request, ctx.api_keys)
        if key is not None:
            request.state.via = "ui"
            return key
    if token is None:
        raise ApiError(401, "missing API key: send 'Authorization: Bearer <key>'", _CHALLENGE)
    if not ctx.is_api_key(token):
        raise ApiError(401, "invalid API key", _CHALLENGE)
    return token


def api_key_required(ctx: AppContext, endpoint: Endpoint) -> Endpoint:
    """Wrap `endpoint` so it runs only for requests carrying a valid API key."""

    @functools.wraps(endpoint)
    async def guarded(request: Request) -> Response:
        request.state.api_key = require_api_key(ctx, request)
        return await endpoint(request)

    return guarded


def require_decrypt(ctx: AppContext, request: Request) -> None:
    """ApiError(403) unless the request's key (set by `api_key_required`) may decrypt."""
    if not ctx.may_decrypt(request.state.api_key):
        raise ApiError(403, "this API key may not decrypt run values")


async def audit_decrypt(ctx: AppContext, request: Request, run_id: str) -> None:
    """The audit record of a decrypting read of `run_id`: which key, from where, and whether
    through a web UI session (`via` "ui") or a plain HTTP call ("http")."""
    client = request.client.host if request.client else "unknown client"
    via = getattr(request.state, "via", "http")
    actor = f"api key {key_id(request.state.api_key)} from {client}"
    await record_decrypt(ctx.world, run_id, actor=actor, via=via)
