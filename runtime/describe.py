"""What a run and its events look like from outside: one description for `Run.events()`, the
HTTP run API and the CLI, so the three cannot drift apart.

A run's summary is plaintext metadata only (ids, names, statuses, times): listing runs never
touches user values. An event is described with its attributes and, where it carries a user
value, either that value (opened with the run's codec) or a summary of the ciphertext.
"""

from __future__ import annotations

from typing import Any

from . import serde
from .context import utc
from .engine.codec import RunCodec
from .engine.events import Event
from .world import RunRecord

SUMMARY_FIELDS = ("seq", "type", "event_id", "created_at", "correlation_id")
"""The fields every described event has; the rest are its type's attributes and `data`."""


def _iso(timestamp: float | None) -> str | None:
    return None if timestamp is None else utc(timestamp).isoformat()


def run_summary(record: RunRecord) -> dict[str, Any]:
    """A run as plain JSON: metadata only, never user values (safe to list without a key
    that may decrypt)."""
    return {
        "run_id": record.run_id,
        "workflow": record.workflow_name,
        "status": str(record.status),
        "created_at": _iso(record.created_at),
        "updated_at": _iso(record.updated_at),
        "completed_at": _iso(record.completed_at),
        "parent_run_id": record.parent_run_id,
        "error_code": record.error_code,
        "deployment": record.deployment,
    }


def sealed_summary(event: Event) -> dict[str, Any]:
    """Where the sealed value is and how big it is: enough to reason about, nothing to read."""
    if "blob" in event.attrs:
        blob = event.attrs["blob"]
        return {"encrypted": True, "size": event.attrs.get("blob_size"), "blob": blob}
    return {"encrypted": True, "size": len(event.payload or b"")}


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
    return entry


def event_json(entry: dict[str, Any]) -> dict[str, Any]:
    """A described event as JSON: `created_at` in ISO 8601, user values as tagged JSON
    (`serde.to_jsonable`), so bytes, datetimes and sets survive the trip."""
    return {
        key: value.isoformat() if key == "created_at" else serde.to_jsonable(value)
        for key, value in entry.items()
    }
