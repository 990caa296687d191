"""The run API (`/v1/runs...`) and the hook webhook (`/v1/hooks/{token}`).

The webhook is rate limited and, for hooks made with `webhook_secret=`, signature checked
before anything is decoded or recorded (adapters/http/webhook.py).

Every `/v1/runs` route needs an API key; event payloads stay ciphertext unless the caller's key
may decrypt (and each decrypting read leaves an audit log line). User values in responses are
tagged JSON (`runtime.serde.to_jsonable`), so bytes, datetimes, sets... survive the trip. Start
arguments accept value tags but never class tags; webhook bodies are plain JSON, read only once
the token is known to be live.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from steplane.runtime import serde
from steplane.runtime.attributes import parse_filter
from steplane.runtime.describe import event_json, hook_listing, run_summary
from steplane.runtime.engine.events import EventType, RunStatus
from steplane.runtime.errors import (
    HookNotFoundError,
    PayloadTooLargeError,
    RunNotFoundError,
    SerializationError,
    WorkflowFailedError,
    WorkflowNotFoundError,
)
from steplane.runtime.ids import check_deployment_id
from steplane.runtime.registry import get_workflow
from steplane.runtime.runs import Run
from steplane.runtime.world import RunRecord, World

from .auth import api_key_required, audit_decrypt, require_decrypt
from .context import AppContext
from .responses import ApiError, json_body
from .webhook import enforce_rate_limits, verify_hook_signature

MAX_LIST_LIMIT = 1000


# --- request parsing ------------------------------------------------------------------------


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"query parameter {name!r} must be a whole number") from None
    if not low <= value <= high:
        raise ApiError(400, f"query parameter {name!r} must be between {low} and {high}")
    return value


def _status_param(request: Request) -> RunStatus | None:
    raw = request.query_params.get("status") or None
    if raw is None:
        return None
    try:
        return RunStatus(raw)
    except ValueError:
        allowed = ", ".join(status.value for status in RunStatus)
        raise ApiError(400, f"unknown status {raw!r}: expected one of {allowed}") from None


def _since_param(request: Request) -> float | None:
    """`since`: only runs created at or after it (ISO 8601 with a zone, or epoch seconds)."""
    raw = request.query_params.get("since") or None
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ApiError(400, "query parameter 'since' must be epoch seconds or ISO 8601 with a zone")
    return moment.timestamp()


async def step_counts(world: World, run_ids: list[str]) -> list[int]:
    """How many steps each run has called (its `step_created` events), a few runs at a time."""
    limit = asyncio.Semaphore(8)

    async def count(run_id: str) -> int:
        async with limit:
            log = await world.log.read(run_id)
        return sum(event.type == EventType.STEP_CREATED for event in log)

    return list(await asyncio.gather(*(count(run_id) for run_id in run_ids)))


def _flag(request: Request, name: str) -> bool:
    raw = request.query_params.get(name, "false").lower()
    if raw not in ("true", "false", "1", "0", ""):
        raise ApiError(400, f"query parameter {name!r} must be true or false")
    return raw in ("true", "1")


def _decode_value(value: Any, what: str) -> Any:
    """Value tags (bytes, datetime, set, ...) decode; class tags are refused: a request from
    outside never chooses which class gets built (docs/serialization.md)."""
    try:
        return serde.from_jsonable(value, classes=False)
    except (SerializationError, TypeError, ValueError, LookupError) as error:
        raise ApiError(400, f"{what} is not valid tagged JSON: {error}") from None


def value_error(error: SerializationError) -> ApiError:
    return ApiError(413 if isinstance(error, PayloadTooLargeError) else 400, str(error))


async def find_run(ctx: AppContext, run_id: str) -> tuple[Run, RunRecord]:
    """The app's handle on the run and its record; 404 for a run the app's World lacks."""
    run = ctx.client.get_run(run_id)
    try:
        return run, await run.record()
    except RunNotFoundError:
        raise ApiError(404, f"no run {run_id!r}") from None


def _idempotency_key(request: Request) -> str | None:
    """The `Idempotency-Key` header: the same key starts one run / delivers one payload."""
    key = request.headers.get("idempotency-key")
    if key is not None and not 0 < len(key) <= 255:
        raise ApiError(400, "the Idempotency-Key header must have 1 to 255 characters")
    return key


# --- routes ---------------------------------------------------------------------------------


def routes(ctx: AppContext) -> list[Route]:
    async def start_run(request: Request) -> Response:
        body = await json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("workflow"), str):
            raise ApiError(400, 'expected {"workflow": name, "args": [...], "kwargs": {...}}')
        args, kwargs = body.get("args", []), body.get("kwargs", {})
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise ApiError(400, "'args' must be a list and 'kwargs' an object")
        try:
            definition = get_workflow(body["workflow"])
        except WorkflowNotFoundError as error:
            raise ApiError(404, str(error)) from None
        args, kwargs = _decode_value(args, "args"), _decode_value(kwargs, "kwargs")
        key = _idempotency_key(request)
        target = definition.fn if key is None else definition.fn.with_options(idempotency_key=key)
        try:
            run = await ctx.client.start(target, *args, **kwargs)
        except SerializationError as error:
            raise value_error(error) from None
        except TypeError as error:  # the arguments do not fit the workflow's signature
            raise ApiError(400, str(error)) from None
        location = f"{request.scope.get('root_path', '')}/v1/runs/{run.run_id}"
        return JSONResponse({"run_id": run.run_id}, status_code=201, headers={"Location": location})

    async def list_runs(request: Request) -> Response:
        status, since = _status_param(request), _since_param(request)
        with_steps = _flag(request, "steps")
        try:
            attributes = dict(parse_filter(a) for a in request.query_params.getlist("attr"))
            deployment = request.query_params.get("deployment") or None
            page = await ctx.client.list(
                status=status,
                workflow=request.query_params.get("workflow") or None,
                deployment=None if deployment is None else check_deployment_id(deployment),
                limit=_int_param(request, "limit", 50, 1, MAX_LIST_LIMIT),
                cursor=request.query_params.get("cursor") or None,
                attributes=attributes,
            )
        except ValueError as error:  # a cursor this World did not hand out, a bad attr/id
            raise ApiError(400, str(error)) from None
        records, next_cursor = page.items, page.next_cursor
        if since is not None:  # newest first: past the first older run, every run is older
            records = [record for record in records if record.created_at >= since]
            if len(records) < len(page.items):
                next_cursor = None
        runs = [run_summary(record) for record in records]
        if with_steps:
            counts = await step_counts(ctx.world, [record.run_id for record in records])
            for summary, count in zip(runs, counts, strict=True):
                summary["steps"] = count
        return JSONResponse({"runs": runs, "next_cursor": next_cursor})

    async def get_run(request: Request) -> Response:
        _, record = await find_run(ctx, request.path_params["run_id"])
        return JSONResponse(run_summary(record))

    async def get_result(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        timeout = min(_int_param(request, "timeout", 0, 0, 2**31), ctx.max_result_wait)
        run, record = await find_run(ctx, run_id)
        if not record.status.is_terminal and timeout == 0:
            return _not_finished(record)
        try:  # an ended run answers at once (a zero timeout would expire at the first read)
            value = await run.result(timeout=None if record.status.is_terminal else timeout)
        except TimeoutError:
            return _not_finished(await run.record())
        except WorkflowFailedError as failure:
            status = "cancelled" if failure.code == "CANCELLED" else "failed"
            error = {"code": failure.code, "message": failure.message}
            return JSONResponse({"run_id": run_id, "status": status, "error": error})
        jsonable = serde.to_jsonable(value)
        return JSONResponse({"run_id": run_id, "status": "completed", "result": jsonable})

    async def cancel_run(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        await find_run(ctx, run_id)
        return JSONResponse({"run_id": run_id, "status": await ctx.client.cancel(run_id)})

    async def list_events(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        decrypt = _flag(request, "decrypt")
        if decrypt:
            require_decrypt(ctx, request)
        start_at = _int_param(request, "start", 0, 0, 2**31)
        run, _ = await find_run(ctx, run_id)
        if decrypt:
            await audit_decrypt(ctx, request, run_id)
        events = [event_json(e) for e in await run.events(start_at, decrypt=decrypt)]
        return JSONResponse({"run_id": run_id, "events": events})

    async def run_timeline(request: Request) -> Response:
        run, _ = await find_run(ctx, request.path_params["run_id"])
        return JSONResponse({"run_id": run.run_id, **await run.timeline()})

    async def list_hooks(request: Request) -> Response:
        try:
            page = await hook_listing(
                ctx.world,
                limit=_int_param(request, "limit", 50, 1, MAX_LIST_LIMIT),
                cursor=request.query_params.get("cursor") or None,
            )
        except ValueError as error:  # a cursor this World did not hand out
            raise ApiError(400, str(error)) from None
        return JSONResponse({"hooks": page.items, "next_cursor": page.next_cursor})

    async def resume(request: Request) -> Response:
        token = request.path_params["token"]
        enforce_rate_limits(request, token, ctx.webhook_client_limiter, ctx.webhook_token_limiter)
        if await ctx.world.hooks.lookup(token) is None:  # the token first, then the body
            raise ApiError(404, "no live hook has this token")
        raw = await request.body()
        await verify_hook_signature(ctx.world, token, raw, request, ctx.webhook_checks)
        payload = await json_body(request, empty=None)  # plain JSON: "$t" is just a key
        try:
            run_id = await ctx.client.resume_hook(
                token, payload, idempotency_key=_idempotency_key(request)
            )
        except HookNotFoundError:
            raise ApiError(404, "no live hook has this token") from None
        except SerializationError as error:
            raise value_error(error) from None
        return JSONResponse({"run_id": run_id})

    guard = lambda endpoint: api_key_required(ctx, endpoint)  # noqa: E731
    return [
        Route("/v1/runs", guard(start_run), methods=["POST"], name="start_run"),
        Route("/v1/runs", guard(list_runs), methods=["GET"], name="list_runs"),
        Route("/v1/runs/{run_id}", guard(get_run), methods=["GET"], name="get_run"),
        Route("/v1/runs/{run_id}/result", guard(get_result), methods=["GET"], name="run_result"),
        Route("/v1/runs/{run_id}/cancel", guard(cancel_run), methods=["POST"], name="cancel_run"),
        Route("/v1/runs/{run_id}/events", guard(list_events), methods=["GET"], name="run_events"),
        Route(
            "/v1/runs/{run_id}/timeline", guard(run_timeline), methods=["GET"], name="run_timeline"
        ),
        Route("/v1/hooks", guard(list_hooks), methods=["GET"], name="list_hooks"),
        # No API key: the unguessable token is the credential (docs/invariants.md #6).
        Route("/v1/hooks/{token:path}", resume, methods=["POST"], name="resume_hook"),
    ]


def _not_finished(record: RunRecord) -> Response:
    return JSONResponse(
        {
            "run_id": record.run_id,
            "status": str(record.status),
            "error": f"run {record.run_id} has not finished",
        },
        status_code=409,
    )
