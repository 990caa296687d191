"""The event model: what a run's append-only log is made of, and the one schema of its events.

Events follow the Vercel Workflows model. An event's plaintext part (`type`, ids, `attrs`) holds
only names, ids, timestamps, counters and statuses, so that Worlds can store and list it in the
clear; everything the user gave us (arguments, results, payloads, error messages) lives in the
opaque `payload` bytes, which the engine encrypts before the World ever sees them.

## The schema

`SCHEMA` declares every event type: whether its `correlation_id` names a step, wait or hook,
its plaintext attributes (name, type, required or optional) and what its encrypted payload
holds (None: it has none). Two checks use it:

- `check_new` where events are made (`RunCodec.event()`, engine/codec.py, the only way the
  engine builds one): a missing, misspelt or mistyped attribute, an unexpected payload or a
  missing correlation id fails where it is written, before anything is stored.
- `check_recorded` where a recorded log is replayed (`WorkflowInstance.apply`): an event of an
  unknown type, or without an attribute the schema requires, is `CorruptedDataError` rather
  than something replayed wrongly. Attributes it does not know are tolerated there.

The stored format is what this table says, unchanged: Worlds store `attrs` as given, plus the
storage attributes the codec adds to an event whose payload went to the blob store
(`blob`, the blob's key, and `blob_size`), and `run_bytes`, the run's stored payload total,
which the writer puts on the last event of every batch (engine/run_bytes.py). These are
`STORAGE_ATTRS`: `Event.public_attrs` leaves them out; the CLI, the HTTP API and `Run.events()`
show the rest.

Adding an event type is one change here: a member of `EventType` and its `EventSpec` in
`SCHEMA` (tests/test_event_schema.py fails for a type without one). Then record it with
`codec.event(EventType.X, ...)`; if the replay must react to it, give it a handler in
engine/instance.py (`_APPLY`); if it is an input the workflow must run after, add it to
recovery's `_INPUTS` (engine/recovery.py). A steplane that does not know a type refuses a
log that holds one (`check_recorded`), so a new type needs every host upgraded first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from ..errors import CorruptedDataError


class EventType(StrEnum):
    RUN_CREATED = "run_created"
    RUN_STARTED = "run_started"
    RUN_COMPLETED = "run_completed"
    RUN_FAILED = "run_failed"
    RUN_CANCELLED = "run_cancelled"
    RUN_UPGRADED = "run_upgraded"
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
    CHILD_CREATED = "child_created"
    CHILD_ENDED = "child_ended"
    ATTRIBUTES_SET = "attributes_set"
    LOCK_REQUESTED = "lock_requested"
    LOCK_ACQUIRED = "lock_acquired"
    LOCK_RELEASED = "lock_released"


TERMINAL_EVENT_TYPES = frozenset(
    {EventType.RUN_COMPLETED, EventType.RUN_FAILED, EventType.RUN_CANCELLED}
)


ATTEMPT_OUTCOME = MappingProxyType(
    {
        EventType.STEP_COMPLETED: "completed",
        EventType.STEP_FAILED: "failed",
        EventType.STEP_RETRYING: "retrying",
    }
)
"""How a step attempt ended, by the event that records it: the `outcome` of an attempt in a
run's timeline (runtime/describe.py) and of its trace span (engine/tracing.py) alike."""


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

BLOB_ATTR = "blob"
"""Set by the codec (engine/codec.py) on an event whose sealed payload went to the blob store:
the blob's key. The codec owns this name; everything else asks it (`codec.sealed_value`)."""
BLOB_SIZE_ATTR = "blob_size"
"""Set by the codec beside `BLOB_ATTR`: the sealed payload's size in bytes."""

STORAGE_ATTRS = frozenset({BLOB_ATTR, BLOB_SIZE_ATTR, "run_bytes"})
"""Attributes of storage, not of the run: where the codec offloaded a payload (engine/codec.py)
and the run's payload total (engine/run_bytes.py)."""


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

    @property
    def has_payload(self) -> bool:
        """Whether the event carries a sealed value, inline or in the blob store."""
        return self.payload is not None or BLOB_ATTR in self.attrs

    @property
    def public_attrs(self) -> dict[str, Any]:
        """The event's declared attributes, without where its payload is stored."""
        return {k: v for k, v in self.attrs.items() if k not in STORAGE_ATTRS}

    def at(self, seq: int) -> Event:
        """This event placed at position `seq` of a log."""
        return replace(self, seq=seq)

    def copied(self) -> Event:
        """A copy with its own attrs dict, for a store handing out what it keeps. Built
        directly, not with `dataclasses.replace` (several times slower): a cold replay reads
        every event of the log."""
        attrs = dict(self.attrs) if self.attrs else {}
        return Event(
            self.type,
            self.event_id,
            self.created_at,
            self.correlation_id,
            attrs,
            self.payload,
            self.seq,
        )


# --- the schema -----------------------------------------------------------------------------

NUMBER = (int, float)
TEXT = (str,)


@dataclass(frozen=True)
class Attr:
    """One plaintext attribute: the types its value may have, and whether it must be there."""

    types: tuple[type, ...]
    doc: str
    required: bool = True


@dataclass(frozen=True)
class EventSpec:
    """One event type: what it records (`doc`), its plaintext attributes, its payload."""

    doc: str
    attrs: Mapping[str, Attr] = field(default_factory=lambda: MappingProxyType({}))
    payload: str | None = None
    """What the encrypted payload holds; None: the event has no payload."""
    correlated: bool = False
    """Whether `correlation_id` names the step, wait or hook the event is about."""


_ATTEMPT = Attr((int,), "attempt number, from 1")
_STEP_NAME = Attr(TEXT, "the step's registered name")
_ERROR_TYPE = Attr(TEXT, "the exception's type name", required=False)
_ERROR = "the exception: type, message, and what rebuilds it (serde.encode_exception)"

SCHEMA: Mapping[EventType, EventSpec] = MappingProxyType(
    {
        EventType.RUN_CREATED: EventSpec(
            "start() recorded the run",
            {
                "workflow_name": Attr(TEXT, "the workflow's registered name"),
                "parent_run_id": Attr(
                    (str, type(None)), "the run whose step started this one", required=False
                ),
                "parent_command": Attr(
                    TEXT, "the parent's child command (start_child) that started it", required=False
                ),
                "on_parent_end": Attr(
                    TEXT, '"cancel" (ended with its parent) or "continue"', required=False
                ),
                "timeout_at": Attr(
                    NUMBER, "epoch seconds after which the run fails TIMED_OUT", required=False
                ),
                "forked_from": Attr(TEXT, "the run whose recorded steps it reused", required=False),
                "trace": Attr(
                    TEXT, "W3C traceparent of the run's span (engine/tracing.py)", required=False
                ),
                "rerun_of": Attr(
                    TEXT,
                    "the run this one re-runs with the same input (Client.rerun)",
                    required=False,
                ),
                "deployment": Attr(
                    (str, type(None)),
                    "the deployment the run is pinned to (runtime/deployment.py)",
                    required=False,
                ),
            },
            payload="the call's arguments: {args, kwargs}",
        ),
        EventType.RUN_UPGRADED: EventSpec(
            "`steplane runs upgrade` moved the run to another deployment after a replay check",
            {
                "deployment": Attr(TEXT, "the deployment the run is pinned to from here on"),
                "previous": Attr(TEXT, "the deployment it was pinned to before"),
            },
        ),
        EventType.RUN_STARTED: EventSpec("the first workflow invocation ran"),
        EventType.RUN_COMPLETED: EventSpec(
            "the workflow returned", payload="the workflow's return value"
        ),
        EventType.RUN_FAILED: EventSpec(
            "the run failed",
            {"code": Attr(TEXT, "an ErrorCode: USER_ERROR, REPLAY_DIVERGENCE, ...")},
            payload="{message}: why, on one line",
        ),
        EventType.RUN_CANCELLED: EventSpec("Run.cancel() ended the run"),
        EventType.STEP_CREATED: EventSpec(
            "the workflow called a step",
            {"step_name": _STEP_NAME},
            payload="the call's arguments: {args, kwargs}",
            correlated=True,
        ),
        EventType.STEP_STARTED: EventSpec(
            "an attempt of the step began", {"attempt": _ATTEMPT}, correlated=True
        ),
        EventType.STEP_COMPLETED: EventSpec(
            "the attempt returned",
            {"attempt": _ATTEMPT, "step_name": _STEP_NAME},
            payload="the step's return value",
            correlated=True,
        ),
        EventType.STEP_FAILED: EventSpec(
            "the attempt failed for good (the workflow sees the exception)",
            {"attempt": _ATTEMPT, "step_name": _STEP_NAME, "error_type": _ERROR_TYPE},
            payload=_ERROR,
            correlated=True,
        ),
        EventType.STEP_RETRYING: EventSpec(
            "the attempt failed and the step is retried",
            {
                "attempt": _ATTEMPT,
                "step_name": _STEP_NAME,
                "error_type": _ERROR_TYPE,
                "retry_at": Attr(NUMBER, "epoch seconds before which it is not retried"),
            },
            payload=_ERROR,
            correlated=True,
        ),
        EventType.HOOK_CREATED: EventSpec(
            "the workflow created a hook (its token is claimed)",
            payload="{token, metadata, webhook?} (engine/hook_records.py)",
            correlated=True,
        ),
        EventType.HOOK_CONFLICT: EventSpec(
            "the hook's token is held by another live hook",
            {"message": Attr(TEXT, "which conflict, without the token")},
            correlated=True,
        ),
        EventType.HOOK_RECEIVED: EventSpec(
            "resume_hook() delivered a payload",
            {
                "key_hash": Attr(
                    TEXT,
                    "hash of the delivery's idempotency key (engine/idempotency.py)",
                    required=False,
                )
            },
            payload="the payload",
            correlated=True,
        ),
        EventType.HOOK_DISPOSED: EventSpec(
            "the hook stopped receiving; its token is freed", correlated=True
        ),
        EventType.WAIT_CREATED: EventSpec(
            "the workflow started a durable timer",
            {"resume_at": Attr(NUMBER, "epoch seconds at which the wait completes")},
            correlated=True,
        ),
        EventType.WAIT_COMPLETED: EventSpec("the timer fired", correlated=True),
        EventType.CHILD_CREATED: EventSpec(
            "the workflow started a child run (start_child); the child is started after this",
            {
                "workflow_name": Attr(TEXT, "the child's workflow"),
                "child_run_id": Attr(TEXT, "the child's run id (derived from this command)"),
                "on_parent_end": Attr(TEXT, '"cancel" or "continue"'),
            },
            payload="the call's arguments: {args, kwargs}",
            correlated=True,
        ),
        EventType.CHILD_ENDED: EventSpec(
            "the child run ended (recorded by the child's ending)",
            {
                "child_run_id": Attr(TEXT, "the child's run id"),
                "status": Attr(TEXT, "completed, failed or cancelled"),
                "code": Attr(TEXT, "the child's error code", required=False),
            },
            payload="{value} of a completed child, else {message}",
            correlated=True,
        ),
        EventType.ATTRIBUTES_SET: EventSpec(
            "set_attributes() recorded searchable attributes (plaintext by choice)",
            {"attributes": Attr((dict,), "the attributes set: {name: text}")},
            correlated=True,
        ),
        EventType.LOCK_REQUESTED: EventSpec(
            "the workflow asked for a lock or a concurrency-limit permit (runtime/locks.py)",
            {
                "key": Attr(TEXT, "the coordination key: a digest of the lock's name"),
                "max": Attr((int,), "how many may hold it at once"),
                "lease": Attr(NUMBER, "seconds a permit is held at most", required=False),
                "order": Attr(NUMBER, "the replay time of the request: the wake order"),
            },
            correlated=True,
        ),
        EventType.LOCK_ACQUIRED: EventSpec(
            "the run holds the permit",
            {
                "fence": Attr((int,), "grows with every grant of this key: a fencing token"),
                "until": Attr(NUMBER, "epoch seconds at which the lease ends", required=False),
            },
            correlated=True,
        ),
        EventType.LOCK_RELEASED: EventSpec("the workflow gave the permit back", correlated=True),
    }
)

_STORAGE = {
    BLOB_ATTR: Attr(TEXT, "blob store key of the sealed payload"),
    BLOB_SIZE_ATTR: Attr((int,), "size of the sealed payload in bytes"),
}
_RUN_TOTAL = {"run_bytes": Attr((int,), "the run's stored payload bytes through this event")}

_DECLARED: dict[str, tuple[EventSpec, dict[str, Attr]]] = {
    str(t): (spec, dict(spec.attrs, **_RUN_TOTAL, **(_STORAGE if spec.payload else {})))
    for t, spec in SCHEMA.items()
}
"""Each type's spec and every attribute it may carry, built once: the replay checks every
event it reads against it."""


def spec_of(event_type: str) -> EventSpec | None:
    """The declared schema of `event_type`, None for a type this steplane does not know."""
    known = _DECLARED.get(event_type)
    return None if known is None else known[0]


def schema_problems(event: Event, *, recorded: bool) -> list[str]:
    """What is wrong with `event` by `SCHEMA` (empty: nothing). A `recorded` event (read from a
    log) may carry attributes this version does not declare; a new one may not."""
    known = _DECLARED.get(event.type)
    if known is None:
        return [f"unknown type {event.type!r}"]
    spec, declared = known
    problems = []
    if spec.correlated and not event.correlation_id:
        problems.append("no correlation_id")
    for name, attr in spec.attrs.items():
        if attr.required and name not in event.attrs:
            problems.append(f"no {name!r} attribute")
    for name, value in event.attrs.items():
        attr = declared.get(name)
        if attr is None:
            if not recorded:
                problems.append(f"undeclared attribute {name!r}")
        elif not isinstance(value, attr.types) or isinstance(value, bool):
            problems.append(f"attribute {name!r} is {type(value).__name__}")
    if not recorded:
        if not spec.correlated and event.correlation_id is not None:
            problems.append("a correlation_id on a run event")
        if spec.payload is None and event.has_payload:
            problems.append("a payload, but the type has none")
        if spec.payload is not None and not event.has_payload:
            problems.append(f"no payload ({spec.payload})")
    return problems


def check_new(event: Event) -> None:
    """Refuse an event the engine is about to record that does not match `SCHEMA` (a bug)."""
    problems = schema_problems(event, recorded=False)
    if problems:
        raise ValueError(
            f"a new {event.type} event does not match its schema: {'; '.join(problems)}"
        )


def check_recorded(event: Event, run_id: str) -> None:
    """Refuse a recorded event the replay cannot understand: CorruptedDataError."""
    problems = schema_problems(event, recorded=True)
    if problems:
        raise CorruptedDataError(
            f"the log of run {run_id} holds an event it cannot replay at position {event.seq} "
            f"({event.event_id}): {'; '.join(problems)}: written by a newer steplane, or damaged"
        )
