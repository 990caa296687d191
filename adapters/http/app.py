"""`create_app()`: the steplane HTTP application (Starlette), servable alone or mounted.

    uvicorn 'adapters.http:create_app' --factory          # World etc. from the environment
    Mount("/steplane", app=create_app(world, ...))        # inside another ASGI app

Routes (see `/openapi.json` for the full description):

- `POST /invoke`                          signed queue messages -> the function host
- `/v1/runs...`                           the run API, API key required
- `GET /v1/runs/{run_id}/streams/{name}`  streams as Server-Sent Events, API key required
- `POST /v1/hooks/{token}`                the hook webhook, token only
- `GET /openapi.json`                     the API description
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException

from runtime.host import FunctionHost
from runtime.world import World

from ..signing import DEFAULT_TOLERANCE
from . import invoke, openapi, runs_api, sse
from .context import AppContext
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
    debug: bool = False,
) -> Starlette:
    """Build the app.

    `world`: the World to serve (default: `runtime.config.get_world()` at the first request);
    a given World becomes the current one if none is, since `start()` acts on the current
    World. `host`: the function host for `/invoke` (default: a new one on that World; pass
    one to share its warm caches with other entry points). `signing_secret`, `api_keys`,
    `decrypt_api_keys`: default to `STEPLANE_SIGNING_SECRET`, `STEPLANE_API_KEYS` and
    `STEPLANE_DECRYPT_API_KEYS` (comma-separated). Without a secret `/invoke` refuses every
    request; without keys the run API does. `max_result_wait` caps `/result?timeout=`.
    """
    ctx = AppContext.build(
        world,
        host,
        signing_secret,
        api_keys,
        decrypt_api_keys,
        signature_tolerance,
        max_result_wait,
    )
    app = Starlette(
        debug=debug,
        routes=[
            *invoke.routes(ctx),
            *runs_api.routes(ctx),
            *sse.routes(ctx, sse_heartbeat),
            *openapi.routes(),
        ],
        exception_handlers={
            ApiError: handle_api_error,
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
    )
    app.state.steplane = ctx
    return app
