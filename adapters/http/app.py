"""`create_app()`: the steplane HTTP application (Starlette), servable alone or mounted.

    uvicorn 'steplane.adapters.http:create_app' --factory          # World etc. from the environment
    Mount("/steplane", app=create_app(world, ...))        # inside another ASGI app

Routes (see `/openapi.json` for the full description):

- `POST /invoke`                          signed queue messages -> the function host
- `/v1/runs...`                           the run API, API key required
- `GET /v1/runs/{run_id}/streams/{name}`  streams as Server-Sent Events, API key required
- `POST /v1/hooks/{token}`                the hook webhook, token only
- `GET /openapi.json`                     the API description
- `/`, `/ui/...`                          the web UI, with `ui=True` (adapters/http/ui.py)

Every route is behind the same input limits (adapters/http/limits.py, json_input.py): a body
over `max_body_bytes` gets 413 before it is read, JSON nested too deep gets 400, and every
error is one JSON line `{"error": ...}` (never a traceback).
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

from steplane.runtime.engine.host import FunctionHost
from steplane.runtime.world import World

from ..signing import DEFAULT_TOLERANCE
from . import inspect_api, invoke, openapi, runs_api, sse
from . import ui as web_ui
from .context import AppContext
from .limits import DEFAULT_MAX_BODY_BYTES, BodyLimit
from .ratelimit import (
    CLIENT_RATE_ENV,
    DEFAULT_CLIENT_RATE,
    DEFAULT_TOKEN_RATE,
    TOKEN_RATE_ENV,
    Rate,
    RateLimiter,
    rate_from_env,
)
from .responses import ApiError, handle_api_error, handle_http_exception, handle_unexpected


def create_app(
    world: World | None = None,
    *,
    host: FunctionHost | None = None,
    signing_secret: str | bytes | None = None,
    api_keys: Iterable[str] | None = None,
    decrypt_api_keys: Iterable[str] | None = None,
    signature_tolerance: float = DEFAULT_TOLERANCE,
    max_result_wait: float = 60.0,
    sse_heartbeat: float = sse.HEARTBEAT_SECONDS,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    webhook_token_rate: Rate | str | None = "env",
    webhook_client_rate: Rate | str | None = "env",
    debug: bool = False,
    ui: bool = False,
) -> Starlette:
    """Build the app.

    `world`: the World to serve (default: the host's, else one built from the environment,
    `runtime.config.world_from_env()`, at the first request). The app acts on it through its
    own `runtime.Client` and never on the process's current World, so one process can serve
    several Worlds with one app each. `host`: the function host for `/invoke` (default: a new
    one on that World; pass one to share its warm caches with other entry points).
    `signing_secret`, `api_keys`, `decrypt_api_keys`: default to `STEPLANE_SIGNING_SECRET`,
    `STEPLANE_API_KEYS` and `STEPLANE_DECRYPT_API_KEYS` (comma-separated). Without a secret
    `/invoke` refuses every request; without keys the run API does. `max_result_wait` caps
    `/result?timeout=`. `max_body_bytes`: larger request bodies get 413 unread.
    `webhook_token_rate` and `webhook_client_rate`: the webhook's per-token and per-client
    limits (a `Rate`, None for none; default from `STEPLANE_WEBHOOK_TOKEN_RATE` /
    `..._CLIENT_RATE`, else 10/s burst 20 per token and 50/s burst 100 per client), per
    process. `ui`: also serve the web UI at `/` (its login page takes an API key and sets a
    session cookie that the run API then accepts; adapters/http/ui.py).
    """
    if webhook_token_rate == "env":
        webhook_token_rate = rate_from_env(TOKEN_RATE_ENV, DEFAULT_TOKEN_RATE)
    if webhook_client_rate == "env":
        webhook_client_rate = rate_from_env(CLIENT_RATE_ENV, DEFAULT_CLIENT_RATE)
    ctx = AppContext.build(
        world,
        host,
        signing_secret,
        api_keys,
        decrypt_api_keys,
        signature_tolerance,
        max_result_wait,
        webhook_client_limiter=_limiter(webhook_client_rate),
        webhook_token_limiter=_limiter(webhook_token_rate),
    )
    ctx.ui = ui
    app = Starlette(
        debug=debug,
        routes=[
            *invoke.routes(ctx),
            *runs_api.routes(ctx),
            *inspect_api.routes(ctx),
            *sse.routes(ctx, sse_heartbeat),
            *openapi.routes(ui),
            *(web_ui.routes(ctx) if ui else []),
        ],
        middleware=[Middleware(BodyLimit, max_bytes=max_body_bytes)],
        exception_handlers={
            ApiError: handle_api_error,
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
    )
    app.state.steplane = ctx
    return app


def _limiter(rate: Rate | str | None) -> RateLimiter | None:
    if isinstance(rate, str):
        raise TypeError(f"expected a Rate or None, got {rate!r}")
    return None if rate is None else RateLimiter(rate)
