"""The Lambda entry point, `steplane.adapters.lambda_handler.handler` (the template's handler
path), for SQS batches and HTTP events. Importing it imports `steplane`, which installs the bare
aliases (`from runtime import workflow` in the workflow modules): /var/task is not a site
directory, so steplane.pth is not read there.

- SQS (the event source mapping of the steplane queue): each record's body is one queue
  message, processed by the function host; records run concurrently, and the ones that failed
  are returned in `batchItemFailures` (enable `ReportBatchItemFailures`), so one bad message is
  retried alone and never makes the others run again.
- API Gateway HTTP API (v2) / Function URL: routed to the same Starlette app that
  `adapters.http.create_app()` builds (invocation endpoint, run API, webhooks, SSE).

One FunctionHost per process, built on the first invocation from the environment World
(`runtime.config.get_world()`), so warm invocations keep its data keys and sticky cache, and
one event loop, kept across invocations for the same reason. Workflow code is imported from
`STEPLANE_MODULES` (comma-separated module names) before the first message.

Cold start: importing this module costs only the standard library; the engine is imported on
the first invocation and Starlette only for the first HTTP event (an SQS-only function never
loads it). On Lambda (`AWS_LAMBDA_FUNCTION_NAME` set), once per process, the first host is
built with the garbage collector paused (`_cold_init`): the imports, the World and, for an SQS
batch, the clients every queue message needs (the World's `prepare_clients`: DynamoDB, KMS),
then every object made so far is frozen out of later collections (`gc.freeze`), as they live
as long as the process. The collector otherwise walks botocore's models again and again
during the cold start (~20% of its CPU, docs/performance.md "Cold start"). No user code runs
in that window but the workflow modules' imports. On Lambda every log line is one JSON
object (`STEPLANE_LOG_LEVEL`, default INFO).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import json
import logging
import os
import time
from collections.abc import Coroutine, Iterator
from typing import TYPE_CHECKING, Any

from .invocation_log import install_json_logging, log_invocation

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from steplane.runtime.engine.host import FunctionHost

MODULES_ENV = "STEPLANE_MODULES"
CACHE_SIZE_ENV = "STEPLANE_CACHE_SIZE"
VISIBILITY_ENV = "STEPLANE_VISIBILITY_SECONDS"
"""The work queue's visibility timeout (the template sets it); the heartbeat renews it."""
DEFAULT_VISIBILITY_SECONDS = 30.0
INLINE_SAFETY_SECONDS = 10.0
"""Stop starting inline steps this long (or 10% of the remaining time, if more) before the
function timeout, so recording the last step's outcome still fits."""

log = logging.getLogger("steplane.lambda")

_loop: asyncio.AbstractEventLoop | None = None
_host: FunctionHost | None = None
_app: Starlette | None = None
_imported_modules = False
_initialized = False

if os.environ.get("AWS_LAMBDA_FUNCTION_NAME") and os.environ.get("AWS_LAMBDA_LOG_FORMAT") != "JSON":
    install_json_logging(level=os.environ.get("STEPLANE_LOG_LEVEL", "INFO").upper())


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda's entry point (synchronous, as Lambda calls it)."""
    if _is_sqs_batch(event):
        return _run(_handle_sqs(event["Records"], context))
    if _is_scheduled_event(event):
        return _run(_reconcile())
    if isinstance(event, dict) and event.get("source") == SCHEDULE_SOURCE:
        return _run(_fire_schedule(event))
    from .http.apigw import is_http_event

    if is_http_event(event):
        return _run(_handle_http(event, context))
    raise ValueError(
        "unsupported event: expected an SQS batch (Records), an EventBridge Scheduled Event, "
        "a steplane schedule fire "
        "or an API Gateway v2 / Function URL request (requestContext.http)"
    )


# --- process-wide state ---------------------------------------------------------------------


def get_host(*, prepare: bool = False) -> FunctionHost:
    """The process's function host, on the current World (rebuilt if the World changed).
    `prepare`: also make the World's clients for queue messages (an SQS batch's host)."""
    if _initialized or not os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return _get_host(prepare)
    with _cold_init():
        return _get_host(prepare)


@contextlib.contextmanager
def _cold_init() -> Iterator[None]:
    """The Lambda process's first host: the collector paused, then what was made frozen."""
    global _initialized
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        _initialized = True
        gc.freeze()  # imports, World, clients: kept for the process's life, never scanned again
        if enabled:
            gc.enable()


def _get_host(prepare: bool) -> FunctionHost:
    global _host, _app
    from steplane.runtime.config import get_world
    from steplane.runtime.engine.host import FunctionHost

    from .worlds import register

    register()  # STEPLANE_WORLD=aws without the distribution's entry points (the zip)
    _import_workflow_modules()
    world = get_world()
    if _host is None or _host.world is not world:
        if _host is not None:
            _host.forget_instances()  # suspended workflows of a World nobody serves any more
        cache_size = int(os.environ.get(CACHE_SIZE_ENV, "256"))
        _host, _app = FunctionHost(world, cache_size=cache_size), None
        if prepare and callable(getattr(world, "prepare_clients", None)):
            world.prepare_clients()  # type: ignore[attr-defined]
    return _host


def get_app() -> Starlette:
    """The HTTP app, sharing the process's function host (and so its warm caches)."""
    global _app
    host = get_host()
    if _app is None:
        from .http import create_app

        _app = create_app(host=host)
    return _app


def _import_workflow_modules() -> None:
    global _imported_modules
    if _imported_modules:
        return
    for name in os.environ.get(MODULES_ENV, "").split(","):
        if name.strip():
            importlib.import_module(name.strip())
    _imported_modules = True


def _run(coroutine: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """Run on the process's own loop, kept between invocations (warm state is bound to it)."""
    global _loop
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        coroutine.close()
        raise RuntimeError(
            "handler() is synchronous, as Lambda calls it; from async code use "
            "`await asyncio.to_thread(handler, event, context)`"
        )
    if _loop is None or _loop.is_closed():
        _loop = asyncio.new_event_loop()
    return _loop.run_until_complete(coroutine)


# --- SQS --------------------------------------------------------------------------------------


def _is_sqs_batch(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, dict) else None
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records)
    )


async def _handle_sqs(records: list[dict[str, Any]], context: Any = None) -> dict[str, Any]:
    host = get_host(prepare=True)
    inline_seconds = inline_budget(context)
    outcomes = await asyncio.gather(
        *(
            _with_heartbeat(host, record, _process_record(host, record, inline_seconds))
            for record in records
        )
    )
    failures = [
        {"itemIdentifier": record["messageId"]}
        for record, ok in zip(records, outcomes, strict=True)
        if not ok
    ]
    return {"batchItemFailures": failures}


def _receive_count(record: dict[str, Any]) -> int:
    raw = (record.get("attributes") or {}).get("ApproximateReceiveCount", "1")
    try:
        return max(1, int(raw))
    except (TypeError, ValueError):
        return 1


async def _process_record(
    host: FunctionHost, record: dict[str, Any], inline_seconds: float | None = None
) -> bool:
    """Handle one record; False when it must come back (it goes back to the queue, alone).
    The host decides what a failure means (runtime/engine/give_up.py); nothing one record raises,
    SystemExit included, reaches the other records of the batch."""
    body = record.get("body", "")
    receive_count = _receive_count(record)
    message_id = record.get("messageId")
    started = time.perf_counter()
    try:
        verdict = await host.process(
            body, receive_count=receive_count, inline_seconds=inline_seconds
        )
        outcome, error = verdict.outcome, verdict.error
    except asyncio.CancelledError:
        raise
    except BaseException as exc:
        outcome, error = "failed", exc
    log_invocation(
        log,
        body,
        outcome=outcome,
        started=started,
        receive_count=receive_count,
        error=error,
        message_id=message_id,
    )
    return outcome != "failed"


# --- EventBridge Scheduler: a workflow's schedule fired (infra/schedules.py) ----------------

SCHEDULE_SOURCE = "steplane.schedule"


async def _fire_schedule(event: dict[str, Any]) -> dict[str, Any]:
    """Start the run of one fire; a duplicate fire (same time) returns the same run."""
    from datetime import datetime

    from steplane.runtime.scheduling import find_schedule, fire

    name, when = event.get("schedule"), event.get("time")
    if not isinstance(name, str) or not isinstance(when, str):
        raise ValueError(
            "a schedule event needs 'schedule' (a workflow name) and 'time' (ISO 8601)"
        )
    try:
        at = datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ValueError(f"a schedule event's 'time' must be ISO 8601, got {when!r}") from None
    host = get_host()  # imports the workflow modules, which register the schedules
    run = await fire(host.world, find_schedule(name), at)
    return {"schedule": name, "run_id": run.run_id if run else None, "paused": run is None}


# --- EventBridge schedule: the reconciler -----------------------------------------------------


def _is_scheduled_event(event: Any) -> bool:
    return (
        isinstance(event, dict)
        and event.get("source") == "aws.events"
        and event.get("detail-type") == "Scheduled Event"
    )


async def _reconcile() -> dict[str, Any]:
    """One reconcile pass (runtime/engine/recovery.py): re-wake every non-terminal run without
    progress for `STEPLANE_STALL_SECONDS`. Returns and logs the pass's summary."""
    from steplane.runtime.engine.recovery import reconcile

    started = time.perf_counter()
    summary = (await reconcile(get_host())).as_dict()
    line = {"reconcile": summary, "duration_ms": round((time.perf_counter() - started) * 1000, 3)}
    log.info(json.dumps(line, separators=(",", ":")))
    return {"reconciled": summary}


# --- the function timeout: inline budget and visibility heartbeat ---------------------------


def inline_budget(context: Any) -> float | None:
    """Seconds this invocation may keep starting inline steps: what Lambda's context says is
    left, minus a safety margin (None without a context: the host's own default)."""
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    if remaining_ms is None:
        return None
    remaining = float(remaining_ms()) / 1000.0
    return max(0.0, remaining - max(INLINE_SAFETY_SECONDS, remaining * 0.1))


def visibility_seconds() -> float:
    raw = os.environ.get(VISIBILITY_ENV, "")
    try:
        value = float(raw) if raw else DEFAULT_VISIBILITY_SECONDS
    except ValueError:
        raise ValueError(f"{VISIBILITY_ENV} must be a number of seconds, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"{VISIBILITY_ENV} must be at least 1 second, got {raw!r}")
    return value


async def _with_heartbeat(
    host: FunctionHost, record: dict[str, Any], work: Coroutine[Any, Any, bool]
) -> bool:
    """Run `work` while renewing the record's visibility every half timeout, so a step that
    runs longer than the queue's visibility timeout is not delivered to a second consumer.
    (Lambda's event source mapping does not extend visibility by itself.)"""
    heartbeat = asyncio.create_task(_keep_invisible(host, record, visibility_seconds()))
    try:
        return await work
    finally:
        heartbeat.cancel()


async def _keep_invisible(host: FunctionHost, record: dict[str, Any], timeout: float) -> None:
    from steplane.runtime.world import Delivery

    receipt = record.get("receiptHandle")
    if not isinstance(receipt, str) or not receipt:
        return
    delivery = Delivery({}, receipt, _receive_count(record), str(record.get("messageId", "")))
    while True:
        await asyncio.sleep(timeout / 2)
        try:
            await host.world.queue.change_visibility(delivery, timeout)
        except Exception as error:  # a missed beat risks a duplicate, never the work itself
            log.warning("could not extend the visibility of %s: %s", delivery.message_id, error)


# --- HTTP -------------------------------------------------------------------------------------


async def _handle_http(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from .http.apigw import call_asgi

    started = time.perf_counter()
    result = await call_asgi(get_app(), event, context)
    http = event["requestContext"]["http"]
    line = {
        "http": f"{http.get('method')} {event.get('rawPath') or '/'}",
        "status": result["statusCode"],
        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
    }
    log.info(json.dumps(line, separators=(",", ":")))
    return result
