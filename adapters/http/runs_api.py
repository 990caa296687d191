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

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from steplane.runtime import serde
from steplane.runtime.describe import event_json, run_summary
from steplane.runtime.engine.audit import record_decrypt
from steplane.runtime.engine.events import RunStatus
from steplane.runtime.errors import (
    HookNotFoundError,
    PayloadTooLargeError,
    RunNotFoundError,
    SerializationError,
    WorkflowFailedError,
    WorkflowNotFoundError,
)
from steplane.runtime.registry import get_workflow
from steplane.runtime.runs import Run
from steplane.runtime.world import RunRecord

from .auth import api_key_required
from .context import AppContext, key_id
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


def _value_error(error: SerializationError) -> ApiError:
    return ApiError(413 if isinstance(error, PayloadTooLargeError) else 400, str(error))


async def _run(ctx: AppContext, run_id: str) -> tuple[Run, RunRecord]:
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
            raise _value_error(error) from None
        except TypeError as error:  # the arguments do not fit the workflow's signature
            raise ApiError(400, str(error)) from None
        location = f"{request.scope.get('root_path', '')}/v1/runs/{run.run_id}"
        return JSONResponse({"run_id": run.run_id}, status_code=201, headers={"Location": location})

    async def list_runs(request: Request) -> Response:
        status = _status_param(request)
        try:
            page = await ctx.client.list(
                status=status,
                workflow=request.query_params.get("workflow") or None,
                deployment=request.query_params.get("deployment") or None,
                limit=_int_param(request, "limit", 50, 1, MAX_LIST_LIMIT),
                cursor=request.query_params.get("cursor") or None,
            )
        except ValueError as error:  # a cursor this World did not hand out
            raise ApiError(400, str(error)) from None
        runs = [run_summary(record) for record in page.items]
        return JSONResponse({"runs": runs, "next_cursor": page.next_cursor})

    async def get_run(request: Request) -> Response:
        _, record = await _run(ctx, request.path_params["run_id"])
        return JSONResponse(run_summary(record))

    async def get_result(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        timeout = min(_int_param(request, "timeout", 0, 0, 2**31), ctx.max_result_wait)
        run, record = await _run(ctx, run_id)
        if not record.status.is_terminal and timeout == 0:
            return _not_finished(record)
        try:
            value = await run.result(timeout=timeout)
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
        await _run(ctx, run_id)
        return JSONResponse({"run_id": run_id, "status": await ctx.client.cancel(run_id)})

    async def list_events(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        decrypt = _flag(request, "decrypt")
        api_key = request.state.api_key
        if decrypt and not ctx.may_decrypt(api_key):
            raise ApiError(403, "this API key may not decrypt event data")
        start_at = _int_param(request, "start", 0, 0, 2**31)
        run, _ = await _run(ctx, run_id)
        if decrypt:
            client = request.client.host if request.client else "unknown client"
            await record_decrypt(
                ctx.world, run_id, actor=f"api key {key_id(api_key)} from {client}", via="http"
            )
        events = [event_json(e) for e in await run.events(start_at, decrypt=decrypt)]
        return JSONResponse({"run_id": run_id, "events": events})

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
            raise _value_error(error) from None
        return JSONResponse({"run_id": run_id})

    guard = lambda endpoint: api_key_required(ctx, endpoint)  # noqa: E731
    return [
        Route("/v1/runs", guard(start_run), methods=["POST"], name="start_run"),
        Route("/v1/runs", guard(list_runs), methods=["GET"], name="list_runs"),
        Route("/v1/runs/{run_id}", guard(get_run), methods=["GET"], name="get_run"),
        Route("/v1/runs/{run_id}/result", guard(get_result), methods=["GET"], name="run_result"),
        Route("/v1/runs/{run_id}/cancel", guard(cancel_run), methods=["POST"], name="cancel_run"),
        Route("/v1/runs/{run_id}/events", guard(list_events), methods=["GET"], name="run_events"),
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
