"""Run-API routes the web UI needs beside the core ones (runs_api.py), each API-key guarded:

- `POST /v1/runs/{run_id}/rerun`                    a new run with the same input (`Client.rerun`)
- `GET  /v1/runs/{run_id}/timeline`                 steps, attempts, waits, hooks on one axis
- `GET  /v1/runs/{run_id}/streams`                  the names of the run's streams
- `GET  /v1/hooks`                                  live hooks (token fingerprint, workflow, age)
- `POST /v1/runs/{run_id}/hooks/{hook_id}/resume`   deliver a payload to a live hook by its id

Resuming by hook id is for holders of an API key, who may act on any run anyway; the token
stays on the server (live_hooks.py). The webhook (`/v1/hooks/{token}`) remains the way for
third parties, with the token alone.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from steplane.runtime.errors import HookNotFoundError, SerializationError

from .auth import api_key_required
from .context import AppContext
from .live_hooks import live_hooks, live_token
from .responses import ApiError, json_body
from .runs_api import find_run, value_error
from .timeline import build_timeline


def routes(ctx: AppContext) -> list[Route]:
    async def rerun(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        await find_run(ctx, run_id)
        run = await ctx.client.rerun(run_id)
        location = f"{request.scope.get('root_path', '')}/v1/runs/{run.run_id}"
        body = {"run_id": run.run_id, "rerun_of": run_id}
        return JSONResponse(body, status_code=201, headers={"Location": location})

    async def timeline(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        await find_run(ctx, run_id)
        log = await ctx.world.log.read(run_id)
        return JSONResponse({"run_id": run_id, **build_timeline(log, ctx.world.clock.time())})

    async def streams(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        await find_run(ctx, run_id)
        names = sorted(await ctx.world.streams.names(run_id))
        return JSONResponse({"run_id": run_id, "streams": names})

    async def hooks(request: Request) -> Response:
        run_id = request.query_params.get("run_id") or None
        if run_id is not None:
            await find_run(ctx, run_id)
        return JSONResponse({"hooks": await live_hooks(ctx.world, run_id)})

    async def resume(request: Request) -> Response:
        run_id, hook_id = request.path_params["run_id"], request.path_params["hook_id"]
        await find_run(ctx, run_id)
        payload = await json_body(request, empty=None)  # plain JSON, as the webhook takes it
        token = await live_token(ctx.world, run_id, hook_id)
        if token is None:
            raise ApiError(404, f"run {run_id} has no live hook {hook_id!r}")
        try:
            await ctx.client.resume_hook(token, payload)
        except HookNotFoundError:
            raise ApiError(404, f"run {run_id} has no live hook {hook_id!r}") from None
        except SerializationError as error:
            raise value_error(error) from None
        return JSONResponse({"run_id": run_id, "hook_id": hook_id})

    guard = lambda endpoint: api_key_required(ctx, endpoint)  # noqa: E731
    run = "/v1/runs/{run_id}"
    return [
        Route(f"{run}/rerun", guard(rerun), methods=["POST"], name="rerun_run"),
        Route(f"{run}/timeline", guard(timeline), methods=["GET"], name="run_timeline"),
        Route(f"{run}/streams", guard(streams), methods=["GET"], name="run_streams"),
        Route("/v1/hooks", guard(hooks), methods=["GET"], name="list_hooks"),
        Route(
            f"{run}/hooks/{{hook_id}}/resume", guard(resume), methods=["POST"], name="resume_by_id"
        ),
    ]
