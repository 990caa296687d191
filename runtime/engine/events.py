"""The event model: what a run's append-only log is made of.

Events follow the Vercel Workflows model. An event's plaintext part (`type`, ids, `attrs`) holds
only names, ids, timestamps, counters and statuses, so that Worlds can store and list it in the
clear; everything the user gave us (arguments, results, payloads, error messages) lives in the
opaque `payload` bytes, which the engine encrypts before the World ever sees them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    RUN_CREATED = "run_created"
    RUN_STARTED = "run_started"
    RUN_COMPLETED = "run_completed"
    RUN_FAILED = "run_failed"
    RUN_CANCELLED = "run_cancelled"
    STEP_CREATED = "step_created"
    STEP_STARTED = "step_started"
    STEP_COMPLETED = "step_completed"
    STEP_FAILED = "step_failed"
    STEP_RETRYING = "step_retrying"
    HOOK_CREATED = "hook_created"
    HOOK_CONFLICT = "hook_conflict"
    HOOK_RECEIVED = "hook_received"
    HOOK_DISPOSED = "hook_disposed"
    WAIT_CREATED = "wait_created"
    WAIT_COMPLETED = "wait_completed"


TERMINAL_EVENT_TYPES = frozenset(
    {EventType.RUN_COMPLETED, EventType.RUN_FAILED, EventType.RUN_CANCELLED}
)


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED})

STATUS_OF_TERMINAL_EVENT = {
    EventType.RUN_COMPLETED: RunStatus.COMPLETED,
    EventType.RUN_FAILED: RunStatus.FAILED,
    EventType.RUN_CANCELLED: RunStatus.CANCELLED,
}


@dataclass(frozen=True)
class Event:
    """One entry of a run's log.

    `seq` is the event's position in the log: -1 until a World has stored it, then set by the
    World on read. `payload` is opaque to Worlds (ciphertext, or a sealed reference to a blob).
    """

    type: str
    event_id: str
    created_at: float
    correlation_id: str | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict)
    payload: bytes | None = None
    seq: int = -1

    @property
    def is_terminal(self) -> bool:
        return self.type in TERMINAL_EVENT_TYPES

    def at(self, seq: int) -> Event:
        """This event placed at position `seq` of a log."""
        return replace(self, seq=seq)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form (payload base64-free: Worlds choose their own binary encoding)."""
        return {
            "type": self.type,
            "event_id": self.event_id,
            "created_at": self.created_at,
            "correlation_id": self.correlation_id,
            "attrs": dict(self.attrs),
            "payload": self.payload,
            "seq": self.seq,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        return cls(
            type=data["type"],
            event_id=data["event_id"],
            created_at=float(data["created_at"]),
            correlation_id=data.get("correlation_id"),
            attrs=dict(data.get("attrs") or {}),
            payload=data.get("payload"),
            seq=int(data.get("seq", -1)),
        )
