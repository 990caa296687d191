"""A run's timeline: its steps (each attempt, and the back-off between attempts), waits and
hooks as bars on one time axis, built from the plaintext part of the log only.

The web UI draws it as a Gantt chart. Rows come in the order the workflow created them, so
steps read in call order. Times are epoch seconds; a bar still open at the end of the log
ends at `end` (the run's ending, or now for a live run) and says so (`open`).
"""

from __future__ import annotations

from typing import Any

from steplane.runtime.engine.events import Event, EventType

_ATTEMPT_OUTCOME = {
    EventType.STEP_COMPLETED: "completed",
    EventType.STEP_RETRYING: "retrying",
    EventType.STEP_FAILED: "failed",
}


def _step_row(row: dict[str, Any], event: Event) -> None:
    """Fold one step event into its row: attempts get a start, an end and an outcome."""
    attempts: list[dict[str, Any]] = row["attempts"]
    number = event.attrs.get("attempt")
    if event.type == EventType.STEP_STARTED:
        attempts.append({"attempt": number, "start": event.created_at, "end": None})
        return
    outcome = _ATTEMPT_OUTCOME.get(EventType(event.type))
    if outcome is None:
        return
    current = attempts[-1] if attempts and attempts[-1]["attempt"] == number else None
    if current is None:  # an inline attempt records no step_started: it began at the last mark
        start = row["backoff"][-1]["end"] if row["backoff"] else row["start"]
        current = {"attempt": number, "start": start, "end": None}
        attempts.append(current)
    current["end"] = event.created_at
    current["outcome"] = outcome
    if event.attrs.get("error_type"):
        current["error_type"] = event.attrs["error_type"]
    if outcome == "retrying":
        retry_at = event.attrs.get("retry_at", event.created_at)
        row["backoff"].append({"start": event.created_at, "end": max(retry_at, event.created_at)})
    else:
        row["end"], row["outcome"] = event.created_at, outcome


def build_timeline(log: list[Event], now: float) -> dict[str, Any]:
    """The timeline of a run whose log is `log`, as of `now` (see module docstring)."""
    rows: dict[str, dict[str, Any]] = {}
    start = log[0].created_at if log else now
    ending = log[-1] if log and log[-1].is_terminal else None
    end = ending.created_at if ending is not None else max(now, log[-1].created_at if log else now)
    for event in log:
        key = event.correlation_id
        if event.type == EventType.STEP_CREATED and key:
            rows[key] = {
                "kind": "step",
                "id": key,
                "name": event.attrs.get("step_name"),
                "start": event.created_at,
                "end": None,
                "attempts": [],
                "backoff": [],
            }
        elif event.type.startswith("step_") and key in rows:
            _step_row(rows[key], event)
        elif event.type == EventType.WAIT_CREATED and key:
            resume_at = event.attrs.get("resume_at")
            rows[key] = {"kind": "wait", "id": key, "name": "sleep", "start": event.created_at}
            rows[key].update(end=None, resume_at=resume_at)
        elif event.type == EventType.WAIT_COMPLETED and key in rows:
            rows[key]["end"] = event.created_at
        elif event.type == EventType.HOOK_CREATED and key:
            rows[key] = {"kind": "hook", "id": key, "name": "hook", "start": event.created_at}
            rows[key].update(end=None, received=[])
        elif event.type == EventType.HOOK_RECEIVED and key in rows:
            rows[key]["received"].append(event.created_at)
        elif event.type in (EventType.HOOK_DISPOSED, EventType.HOOK_CONFLICT) and key in rows:
            rows[key]["end"] = event.created_at
    for row in rows.values():
        row["open"] = row["end"] is None
        if row["open"] and row["kind"] == "step":  # an attempt in flight records nothing yet
            begun = row["backoff"][-1]["end"] if row["backoff"] else row["start"]
            number = len(row["attempts"]) + 1
            row["attempts"].append({"attempt": number, "start": begun, "end": None})
        if row["open"]:
            row["end"] = end
        for attempt in row.get("attempts", []):
            if attempt["end"] is None:
                attempt.update(end=end, outcome="running")
    return {"start": start, "end": end, "ended": ending is not None, "rows": list(rows.values())}
