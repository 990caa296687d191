"""Run-API routes the web UI needs beside the core ones (runs_api.py), each API-key guarded:

- `POST /v1/runs/{run_id}/rerun`                    a new run with the same input (`Client.rerun`)
- `GET  /v1/runs/{run_id}/streams`                  the names of the run's streams
- `POST /v1/runs/{run_id}/hooks/{hook_id}/resume`   deliver a payload to a live hook by its id

The timeline and the hook listing the UI draws are runs_api.py's (`runtime/describe.py`
makes them for every caller). Resuming by hook id is for holders of an API key, who may act on
any run anyway; the token is read from the run's log on the server and never sent. The webhook
(`/v1/hooks/{token}`) remains the way for third parties, with the token alone.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from steplane.runtime.engine.codec import codecs_for
from steplane.runtime.engine.hook_records import hook_owners
from steplane.runtime.errors import HookNotFoundError, SerializationError
from steplane.runtime.world import World

from .auth import api_key_required
from .context import AppContext
from .responses import ApiError, json_body
from .runs_api import find_run, value_error


async def live_token(world: World, run_id: str, hook_id: str) -> str | None:
    """The token of the run's hook `hook_id` while it is not disposed (None: no such hook).
    A hook that is gone from the registry (its run ended) is refused by `resume_hook`."""
    log = await world.log.read(run_id)
    codec = await codecs_for(world).get(run_id)
    for owner in await hook_owners(codec, log, live_only=True):
        if owner.hook_id == hook_id:
            return owner.token
    return None


def routes(ctx: AppContext) -> list[Route]:
    async def rerun(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        await find_run(ctx, run_id)
        run = await ctx.client.rerun(run_id)
        location = f"{request.scope.get('root_path', '')}/v1/runs/{run.run_id}"
        body = {"run_id": run.run_id, "rerun_of": run_id}
        return JSONResponse(body, status_code=201, headers={"Location": location})

    async def streams(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        await find_run(ctx, run_id)
        names = sorted(await ctx.world.streams.names(run_id))
        return JSONResponse({"run_id": run_id, "streams": names})

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
        Route(f"{run}/streams", guard(streams), methods=["GET"], name="run_streams"),
        Route(
            f"{run}/hooks/{{hook_id}}/resume", guard(resume), methods=["POST"], name="resume_by_id"
        ),
    ]
