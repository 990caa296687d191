"""Queue messages between invocations: small JSON objects with ids and names, no user data.

`{"v": 1, "kind": "workflow", "run_id": ..., "workflow": ..., "wake": wait_id | null}` asks for a
workflow invocation (`wake` names the durable wait it was delayed for, so an early delivery of a
chained long wait can re-arm itself). `{"v": 1, "kind": "step", "run_id": ..., "step_id": ...,
"step": ..., "hint": position}` asks for one attempt of a queued step; `hint` is where its
`step_created` event sits in the log, so the step invocation reads only from there.

A step message may carry `"wait_until": time`, the window in which the workflow invocation that
queued it waits in place for its outcome; a workflow message may carry `"after": position`,
for a continuation that can be settled from the log (both: engine/wait_in_place.py).

`{"v": 1, "kind": "timer", "run_id": ..., "workflow": ..., "wake": wait_id, "due": time,
"hop": n}` is one hop of a wait longer than the queue's longest delay (SQS: 15 minutes). It
carries the wait's due time, so the host re-sends it (or, for the last hop, the wait's workflow
message) without reading the run: a month of sleep costs about 2,900 queue hops, not 2,900
workflow invocations that each may replay the run. `hop` numbers the chain, so a duplicated
hop's re-send has the same idempotency key as the original's (a queue that enforces keys drops
it), and `wake_message()` below is the one place that decides between the two shapes.

Any message may carry `"trace": traceparent`, the W3C trace context of its run's span
(engine/tracing.py), so that one run reads as one trace across processes. It is optional (a
message without it, or from before it existed, is handled the same) and a malformed one is
dropped, not an error; it is not part of what makes two messages the same.

Every kind may carry `"dep": deployment`, the deployment the run is pinned to
(runtime/deployment.py): a host of another deployment hands the message on instead of running
it, and a queue may route by it (the AWS World: one queue per live deployment). A message
without `dep` (from a steplane before deployments, or of an unpinned run) is accepted by any
host. The host stamps it on every message it sends (`with_deployment`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import InvalidMessageError
from ..ids import check_deployment_id
from .tracing import valid_traceparent

VERSION = 1


@dataclass(frozen=True)
class WorkflowMessage:
    kind = "workflow"
    run_id: str
    workflow: str
    wake: str | None = None
    trace: str | None = field(default=None, compare=False)
    dep: str | None = None
    after: int | None = None
    """Set on the continuation of a step a workflow invocation waits for in place: the log's
    length once the step's outcome was recorded. A workflow event at or after it proves the
    outcome was consumed, so the message is settled without a replay (engine/wait_in_place.py)."""

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "v": VERSION,
            "kind": "workflow",
            "run_id": self.run_id,
            "workflow": self.workflow,
            "wake": self.wake,
        }
        if self.after is not None:
            body["after"] = self.after
        return _stamped(body, self.trace, self.dep)

    @property
    def idempotency_key(self) -> str:
        if self.wake:
            return f"wake:{self.run_id}:{self.wake}"
        # Each waited-for outcome has its own continuation: one queued behind another with
        # a smaller `after` must not swallow it (that one may be settled by a batch written
        # before this outcome).
        suffix = "" if self.after is None else f":{self.after}"
        return f"continue:{self.run_id}{suffix}"


@dataclass(frozen=True)
class StepMessage:
    kind = "step"
    run_id: str
    step_id: str
    step: str
    hint: int = 0
    attempt: int = 1
    trace: str | None = field(default=None, compare=False)
    dep: str | None = None
    slot: float | None = None
    """The rate-limit slot this attempt reserved (engine/locks.py): it runs from then on
    without reserving another."""
    wait_until: float | None = None
    """World time until which the workflow invocation that sent this waits in place for the
    outcome; the step's continuation is delayed until then (engine/wait_in_place.py)."""

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "v": VERSION,
            "kind": "step",
            "run_id": self.run_id,
            "step_id": self.step_id,
            "step": self.step,
            "hint": self.hint,
            "attempt": self.attempt,
        }
        if self.slot is not None:
            body["slot"] = self.slot
        if self.wait_until is not None:
            body["wait_until"] = self.wait_until
        return _stamped(body, self.trace, self.dep)

    @property
    def idempotency_key(self) -> str:
        return f"step:{self.run_id}:{self.step_id}:{self.attempt}"


@dataclass(frozen=True)
class TimerMessage:
    kind = "timer"
    run_id: str
    workflow: str
    wake: str
    due: float
    hop: int = 1
    trace: str | None = field(default=None, compare=False)
    dep: str | None = None

    def body(self) -> dict[str, Any]:
        return _stamped(
            {
                "v": VERSION,
                "kind": "timer",
                "run_id": self.run_id,
                "workflow": self.workflow,
                "wake": self.wake,
                "due": self.due,
                "hop": self.hop,
            },
            self.trace,
            self.dep,
        )

    @property
    def idempotency_key(self) -> str:
        return f"timer:{self.run_id}:{self.wake}:{self.hop}"


@dataclass(frozen=True)
class DebounceMessage:
    """Fire a debounced start once its window has passed (engine/debounce.py)."""

    kind = "debounce"
    run_id: str
    workflow: str
    key: str
    trace: str | None = field(default=None, compare=False)
    dep: str | None = None

    def body(self) -> dict[str, Any]:
        return _stamped(
            {
                "v": VERSION,
                "kind": "debounce",
                "run_id": self.run_id,
                "workflow": self.workflow,
                "key": self.key,
            },
            self.trace,
            self.dep,
        )

    @property
    def idempotency_key(self) -> str | None:
        return None  # every start of a burst sends one: none may be dropped for another


Message = WorkflowMessage | StepMessage | TimerMessage | DebounceMessage


def _stamped(body: dict[str, Any], trace: str | None, dep: str | None) -> dict[str, Any]:
    if trace is not None:
        body["trace"] = trace
    if dep is not None:
        body["dep"] = dep
    return body


def with_deployment(message: Message, dep: str | None) -> Message:
    """`message` pinned to `dep` (unchanged when it already names one, or `dep` is None)."""
    if dep is None or message.dep is not None:
        return message
    return replace(message, dep=dep)


def wake_message(
    run_id: str, workflow: str, wait_id: str, due: float, now: float, max_delay: float, hop: int = 0
) -> tuple[WorkflowMessage | TimerMessage, float]:
    """The message (and its delay) that wakes the workflow for the wait `wait_id` at `due`:
    the workflow message itself when the queue can delay it that long, else hop `hop + 1` of
    a timer chain (module docstring)."""
    remaining = max(0.0, due - now)
    if remaining <= max_delay:
        return WorkflowMessage(run_id, workflow, wait_id), remaining
    return TimerMessage(run_id, workflow, wait_id, due, hop + 1), max_delay


def _text(body: dict[str, Any], key: str, *, optional: bool = False) -> Any:
    value = body.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidMessageError(f"malformed message: {key!r} must be a non-empty string")
    return value


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def parse_message(raw: Any) -> Message:
    """Validate a queue message (dict, JSON str or bytes); InvalidMessageError says what is off."""
    if isinstance(raw, bytes | bytearray):
        raw = raw.decode("utf-8", errors="replace")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise InvalidMessageError(f"malformed message: not JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise InvalidMessageError(
            f"malformed message: expected an object, got {type(raw).__name__}"
        )
    if raw.get("v") != VERSION:
        raise InvalidMessageError(f"malformed message: unsupported version {raw.get('v')!r}")
    run_id = _text(raw, "run_id")
    if not run_id.startswith("run_"):
        raise InvalidMessageError(f"malformed message: {run_id!r} is not a run id")
    message = _parse_kind(raw, run_id)
    dep = raw.get("dep")
    if dep is None:
        return message  # a message from before deployments, or of an unpinned run
    try:
        check_deployment_id(dep)
    except ValueError as error:
        raise InvalidMessageError(f"malformed message: 'dep': {error}") from None
    return replace(message, dep=dep)


def _parse_kind(raw: dict[str, Any], run_id: str) -> Message:
    kind = raw.get("kind")
    trace = valid_traceparent(raw.get("trace"))
    if kind == "workflow":
        after = raw.get("after")
        if after is not None and (not _whole(after) or after < 0):
            raise InvalidMessageError("malformed message: 'after' must be a whole number")
        wake = _text(raw, "wake", optional=True)
        return WorkflowMessage(run_id, _text(raw, "workflow"), wake, trace, after=after)
    if kind == "step":
        hint, attempt = raw.get("hint", 0), raw.get("attempt", 1)
        if not _whole(hint) or hint < 0 or not _whole(attempt) or attempt < 1:
            raise InvalidMessageError(
                "malformed message: 'hint' and 'attempt' must be whole numbers"
            )
        slot = raw.get("slot")
        if slot is not None and not _finite(slot):
            raise InvalidMessageError("malformed message: 'slot' must be a finite number")
        wait_until = raw.get("wait_until")
        if wait_until is not None and not _finite(wait_until):
            raise InvalidMessageError("malformed message: 'wait_until' must be a finite number")
        step_id, step = _text(raw, "step_id"), _text(raw, "step")
        return StepMessage(
            run_id,
            step_id,
            step,
            hint,
            attempt,
            trace,
            slot=None if slot is None else slot,
            wait_until=None if wait_until is None else float(wait_until),
        )
    if kind == "timer":
        due, hop = raw.get("due"), raw.get("hop")
        if not _finite(due):
            raise InvalidMessageError("malformed message: 'due' must be a finite number")
        if not _whole(hop) or hop < 1:
            raise InvalidMessageError("malformed message: 'hop' must be a whole number >= 1")
        workflow, wake = _text(raw, "workflow"), _text(raw, "wake")
        return TimerMessage(run_id, workflow, wake, float(due), hop, trace)
    if kind == "debounce":
        return DebounceMessage(run_id, _text(raw, "workflow"), _text(raw, "key"))
    raise InvalidMessageError(f"malformed message: unknown kind {kind!r}")
