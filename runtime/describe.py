"""What runs, events, steps, hooks and stream chunks look like from outside: the one
presentation that `Run.events()`, the HTTP run API, the CLI and the web UI all show, so they
cannot drift apart. docs/api.md ("Shapes") documents every field.

A run's summary, its timeline (steps and their attempts, waits, hooks) and a hook's listing
are plaintext metadata only (ids, names, statuses, times): showing them never touches a user
value. An event is described with its attributes and, where it carries a user value, either
that value (opened with the run's codec) or `sealed_summary`, which asks the codec where the
ciphertext is and how big (the codec owns the storage attributes that say so).

Times are ISO 8601 strings in UTC, except an event's `created_at` from `describe_event`, which
is an aware datetime until `event_json` (Run.events() hands out Python values). Decrypted,
a `hook_created` value still never shows the hook's token or webhook secret (`REDACTED`):
both are bearer secrets, and holders of an API key resume a hook by its id instead.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable
from typing import Any

from . import serde
from .context import utc
from .engine.codec import RunCodec, sealed_value
from .engine.events import ATTEMPT_OUTCOME, Event, EventType
from .world import HookEntry, Page, RunRecord, World

SUMMARY_FIELDS = ("seq", "type", "event_id", "created_at", "correlation_id")
"""The fields every described event has; the rest are its type's attributes and `data`."""

REDACTED = "[redacted]"
"""What a decrypted `hook_created` shows instead of the token and the webhook secret."""


def iso(timestamp: float | None) -> str | None:
    """Epoch seconds as ISO 8601 in UTC (None stays None): the one time format shown."""
    return None if timestamp is None else utc(timestamp).isoformat()


# --- runs -------------------------------------------------------------------------------------


def run_summary(record: RunRecord) -> dict[str, Any]:
    """A run as plain JSON: metadata only, never user values (safe to list without a key
    that may decrypt)."""
    return {
        "run_id": record.run_id,
        "workflow": record.workflow_name,
        "status": str(record.status),
        "created_at": iso(record.created_at),
        "updated_at": iso(record.updated_at),
        "completed_at": iso(record.completed_at),
        "parent_run_id": record.parent_run_id,
        "error_code": record.error_code,
        "attributes": dict(record.attributes),
        "deployment": record.deployment,
    }


def run_values(events: list[dict[str, Any]]) -> dict[str, Any]:
    """A run's `input` (the `run_created` data) and, once it ended, its `outcome` (the
    `run_completed` value or the `run_failed` {message}), from its described events."""
    created = next((e for e in events if e["type"] == EventType.RUN_CREATED), None)
    shown: dict[str, Any] = {"input": created.get("data") if created else None}
    last = events[-1] if events else None
    if last is not None and last["type"] in (EventType.RUN_COMPLETED, EventType.RUN_FAILED):
        shown["outcome"] = last.get("data")
    return shown


# --- events -----------------------------------------------------------------------------------


def sealed_summary(event: Event) -> dict[str, Any]:
    """Where the sealed value is and how big its ciphertext is (`size`, bytes): enough to
    reason about, nothing to read. `blob` only for a value kept in the blob store."""
    sealed = sealed_value(event)
    size = 0 if sealed is None else sealed.size
    shown: dict[str, Any] = {"encrypted": True, "size": size}
    if sealed is not None and sealed.blob is not None:
        shown["blob"] = sealed.blob
    return shown


async def describe_event(event: Event, codec: RunCodec | None) -> dict[str, Any]:
    """One event as a dict of Python values: the summary fields (`created_at` an aware
    datetime), its attributes, and `data`: the value it carries opened with `codec`, or with
    no codec the `sealed_summary`."""
    entry: dict[str, Any] = {
        "seq": event.seq,
        "type": str(event.type),
        "event_id": event.event_id,
        "created_at": utc(event.created_at),
        "correlation_id": event.correlation_id,
        **event.public_attrs,
    }
    if event.has_payload:
        entry["data"] = await codec.open(event) if codec is not None else sealed_summary(event)
        if codec is not None and event.type == EventType.HOOK_CREATED:
            entry["data"] = redact_hook_created(entry["data"])
    return entry


def redact_hook_created(data: Any) -> Any:
    """A decrypted `hook_created` value (engine/hook_records.py) with its `token` and its
    webhook `secret` replaced by `REDACTED`; the metadata and the webhook header stay."""
    if not isinstance(data, dict):
        return data
    shown = dict(data)
    if "token" in shown:
        shown["token"] = REDACTED
    webhook = shown.get("webhook")
    if isinstance(webhook, dict) and "secret" in webhook:
        shown["webhook"] = {**webhook, "secret": REDACTED}
    return shown


def event_json(entry: dict[str, Any]) -> dict[str, Any]:
    """A described event as JSON: `created_at` in ISO 8601, user values as tagged JSON
    (`serde.to_jsonable`), so bytes, datetimes and sets survive the trip."""
    return {
        key: value.isoformat() if key == "created_at" else serde.to_jsonable(value)
        for key, value in entry.items()
    }


# --- the timeline: steps, attempts, waits, hooks ---------------------------------------------

STEP_OUTCOMES = tuple(ATTEMPT_OUTCOME.values())
"""How an attempt ended (None while it runs); also the `steplane.outcome` of its trace span."""


def _attempt(step: dict[str, Any], number: int) -> dict[str, Any]:
    for attempt in step["attempts"]:
        if attempt["attempt"] == number:
            return attempt
    attempt = {
        "attempt": number,
        "started_at": None,
        "ended_at": None,
        "outcome": None,
        "error_type": None,
        "retry_at": None,
    }
    step["attempts"].append(attempt)
    return attempt


def _step_event(steps: dict[str, dict[str, Any]], event: Event) -> None:
    cid = event.correlation_id or ""
    step = steps.get(cid)
    if step is None:  # a created event is always first; tolerate a log that lost it
        step = steps[cid] = {
            "step_id": cid,
            "seq": event.seq,
            "step_name": event.attrs.get("step_name"),
            "status": "pending",
            "created_at": iso(event.created_at),
            "ended_at": None,
            "attempts": [],
        }
    if event.type == EventType.STEP_CREATED:
        return
    attempt = _attempt(step, int(event.attrs.get("attempt", len(step["attempts"]) or 1)))
    if event.type == EventType.STEP_STARTED:
        attempt["started_at"] = iso(event.created_at)
        step["status"] = "running"
        return
    outcome = ATTEMPT_OUTCOME[EventType(event.type)]
    attempt.update(
        ended_at=iso(event.created_at),
        outcome=outcome,
        error_type=event.attrs.get("error_type"),
        retry_at=iso(event.attrs.get("retry_at")),
    )
    step["status"] = outcome
    if outcome != "retrying":
        step["ended_at"] = iso(event.created_at)


def timeline(log: Iterable[Event]) -> dict[str, Any]:
    """A run's steps (with every attempt), waits and hooks on one time axis, from the
    plaintext part of its log only (no key needed, no audit): what `Run.timeline()`,
    `GET /v1/runs/{id}/timeline`, `runs show` and the web UI's Gantt chart show.

    `started_at` is the run's first event, `ended_at` its ending (None while it runs). Each
    step, wait and hook has the `seq` of the event that made it, so the three lists merge back
    into the order the workflow made them. A step's `status` is pending, running, retrying,
    completed or failed; an attempt's `outcome` one of `STEP_OUTCOMES`, or None while it
    runs; a retrying attempt's back-off lasts from its `ended_at` to its `retry_at`. A hook
    is live while it has neither `disposed_at` nor `conflict` and the run has not ended."""
    steps: dict[str, dict[str, Any]] = {}
    waits: dict[str, dict[str, Any]] = {}
    hooks: dict[str, dict[str, Any]] = {}
    started_at = ended_at = None
    for event in log:
        kind, cid, at = event.type, event.correlation_id or "", iso(event.created_at)
        started_at = started_at or at
        if event.is_terminal:
            ended_at = at
        if kind.startswith("step_"):
            _step_event(steps, event)
        elif kind == EventType.WAIT_CREATED:
            resume_at = event.attrs.get("resume_at")
            waits[cid] = {
                "wait_id": cid,
                "seq": event.seq,
                "created_at": at,
                "resume_at": iso(resume_at),
                "completed_at": None,
            }
        elif kind == EventType.WAIT_COMPLETED and cid in waits:
            waits[cid]["completed_at"] = at
        elif kind in (EventType.HOOK_CREATED, EventType.HOOK_CONFLICT):
            hooks[cid] = {
                "hook_id": cid,
                "seq": event.seq,
                "created_at": at,
                "received_at": [],
                "disposed_at": None,
                "conflict": event.attrs.get("message") if kind == EventType.HOOK_CONFLICT else None,
            }
        elif kind == EventType.HOOK_RECEIVED and cid in hooks:
            hooks[cid]["received_at"].append(at)
        elif kind == EventType.HOOK_DISPOSED and cid in hooks:
            hooks[cid]["disposed_at"] = at
    return {
        "started_at": started_at,
        "ended_at": ended_at,
        "steps": list(steps.values()),
        "waits": list(waits.values()),
        "hooks": list(hooks.values()),
    }


# --- hooks and streams ------------------------------------------------------------------------


def hook_summary(
    entry: HookEntry, workflow: str | None, received: int, now: float
) -> dict[str, Any]:
    """A live hook as listed (`steplane hooks list`, the UI's hooks page): its token only by
    fingerprint (the token is a bearer secret), its run and workflow, how many payloads it
    has received, and how long ago it was claimed (None for a hook claimed before registries
    kept the time)."""
    created = entry.created_at
    return {
        "token_fingerprint": entry.fingerprint,
        "run_id": entry.run_id,
        "hook_id": entry.hook_id,
        "workflow": workflow,
        "received": received,
        "created_at": iso(created),
        "age_seconds": None if created is None else round(max(0.0, now - created), 3),
    }


def chunk_json(index: int, chunk: Any) -> dict[str, Any]:
    """One stream chunk as JSON: its `index` in the stream (the SSE event id) and its `data`,
    tagged JSON like every user value shown."""
    return {"index": index, "data": serde.to_jsonable(chunk)}


LOG_READS = 8
"""Run logs `hook_listing` reads at once."""


async def hook_listing(world: World, *, limit: int = 50, cursor: str | None = None) -> Page:
    """One page of live hooks as `hook_summary` dicts, each with its run's workflow and the
    payloads the hook has received: one log read per distinct run on the page, plaintext
    part only (nothing is decrypted). A run's own hooks, live or not, are in its timeline."""
    page = await world.hooks.list(limit=limit, cursor=cursor)
    gate = asyncio.Semaphore(LOG_READS)

    async def facts(run_id: str) -> tuple[str | None, Counter[str]]:
        async with gate:
            log = await world.log.read(run_id)
        created = next((e for e in log if e.type == EventType.RUN_CREATED), None)
        workflow = created.attrs.get("workflow_name") if created is not None else None
        received = Counter(e.correlation_id or "" for e in log if e.type == EventType.HOOK_RECEIVED)
        return workflow, received

    run_ids = list(dict.fromkeys(entry.run_id for entry in page.items))
    known = dict(zip(run_ids, await asyncio.gather(*map(facts, run_ids)), strict=True))
    now = world.clock.time()
    items = []
    for entry in page.items:
        workflow, received = known[entry.run_id]
        items.append(hook_summary(entry, workflow, received[entry.hook_id], now))
    return Page(items, page.next_cursor)
