"""Queue messages between invocations: small JSON objects with ids and names, no user data.

`{"v": 1, "kind": "workflow", "run_id": ..., "workflow": ..., "wake": wait_id | null}` asks for a
workflow invocation (`wake` names the durable wait it was delayed for, so an early delivery of a
chained long wait can re-arm itself). `{"v": 1, "kind": "step", "run_id": ..., "step_id": ...,
"step": ..., "hint": position}` asks for one attempt of a queued step; `hint` is where its
`step_created` event sits in the log, so the step invocation reads only from there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidMessageError

VERSION = 1


@dataclass(frozen=True)
class WorkflowMessage:
    kind = "workflow"
    run_id: str
    workflow: str
    wake: str | None = None

    def body(self) -> dict[str, Any]:
        return {
            "v": VERSION,
            "kind": "workflow",
            "run_id": self.run_id,
            "workflow": self.workflow,
            "wake": self.wake,
        }

    @property
    def idempotency_key(self) -> str:
        return f"wake:{self.run_id}:{self.wake}" if self.wake else f"continue:{self.run_id}"


@dataclass(frozen=True)
class StepMessage:
    kind = "step"
    run_id: str
    step_id: str
    step: str
    hint: int = 0
    attempt: int = 1

    def body(self) -> dict[str, Any]:
        return {
            "v": VERSION,
            "kind": "step",
            "run_id": self.run_id,
            "step_id": self.step_id,
            "step": self.step,
            "hint": self.hint,
            "attempt": self.attempt,
        }

    @property
    def idempotency_key(self) -> str:
        return f"step:{self.run_id}:{self.step_id}:{self.attempt}"


Message = WorkflowMessage | StepMessage


def _text(body: dict[str, Any], key: str, *, optional: bool = False) -> Any:
    value = body.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidMessageError(f"malformed message: {key!r} must be a non-empty string")
    return value


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
    kind = raw.get("kind")
    if kind == "workflow":
        return WorkflowMessage(run_id, _text(raw, "workflow"), _text(raw, "wake", optional=True))
    if kind == "step":
        hint, attempt = raw.get("hint", 0), raw.get("attempt", 1)
        if not isinstance(hint, int) or hint < 0 or not isinstance(attempt, int) or attempt < 1:
            raise InvalidMessageError(
                "malformed message: 'hint' and 'attempt' must be whole numbers"
            )
        return StepMessage(run_id, _text(raw, "step_id"), _text(raw, "step"), hint, attempt)
    raise InvalidMessageError(f"malformed message: unknown kind {kind!r}")
