"""The give-up policy: what a message that failed means for its run. One policy, in the host,
so Lambda, HTTP `/invoke` and the emulator settle every message alike (docs/invariants.md #8).

- ok: done; delete the message.
- rejected: it can never succeed (malformed, names unknown code or a run that does not exist,
  the run's log or payload is corrupted) or it failed on its last allowed receive. The host has
  already ended the run, when there is one, with a specific code and a one-line reason, so the
  message is settled: delete it, never retry it.
- failed: transient (an AWS call failed, the invocation crashed); deliver it again later.

A step message that fails on its last receive fails the *step* (a `StepInvocationError` the
workflow can catch and compensate for, counted as the step's final failure); uncaught, the run
fails with `MAX_DELIVERIES_EXCEEDED`. A workflow message fails the run with that code.
When even ending the run fails, the verdict stays `failed`: the message goes to the
dead-letter queue and the reconciler (runtime/engine/recovery.py) re-wakes the run later.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import (
    CorruptedDataError,
    ErrorCode,
    InvalidMessageError,
    RunNotFoundError,
    WorkflowNotFoundError,
)
from .events import EventType, RunStatus
from .lifecycle import end_run_from_outside
from .messages import StepMessage, parse_message
from .services import RunServices, StepServices
from .step_invocation import give_up_step

log = logging.getLogger("steplane.host")

PERMANENT = (InvalidMessageError, WorkflowNotFoundError, RunNotFoundError, CorruptedDataError)


@dataclass(frozen=True)
class Verdict:
    """How one message was settled; `ended` is the code the host ended the run with."""

    outcome: Literal["ok", "rejected", "failed"]
    error: BaseException | None = None
    ended: str | None = None

    @property
    def settled(self) -> bool:
        """True when the message must not be delivered again."""
        return self.outcome != "failed"


def describe(error: BaseException) -> str:
    """`Type: message` on one line."""
    return " ".join(f"{type(error).__name__}: {error}".split())


async def settle(
    services: StepServices, raw: Any, error: BaseException, receive_count: int
) -> Verdict:
    run_id, kind = _names(raw)
    if isinstance(error, PERMANENT):
        if isinstance(error, CorruptedDataError):
            code, reason = ErrorCode.CORRUPTED_EVENT_LOG, f"the run's data is corrupted: {error}"
        else:
            code, reason = ErrorCode.RUNTIME_ERROR, f"the function host rejected a {kind} message"
            reason += f": {error}"
        ended = await end(services, run_id, code, reason) if run_id else None
        if ended is None and isinstance(error, RunNotFoundError):
            # Retention purged the run (runtime/engine/retention.py) and a late or duplicate
            # message came after; or the message names a run that never was. Nothing to end.
            log.info("dropped a %s message of run %s: %s", kind, run_id, describe(error))
        return Verdict("rejected", error, ended)
    if receive_count < services.world.queue.max_receives:
        return Verdict("failed", error)
    reason = f"a {kind} message failed {receive_count} deliveries; last error: {describe(error)}"
    if kind == "step":
        try:
            message = parse_message(raw)
            assert isinstance(message, StepMessage)
            await give_up_step(services, message, reason)
            return Verdict("rejected", error, "step_failed")
        except Exception as failure:  # could not even record the step's failure: fail the run
            log.warning("could not fail the step of %s: %s", run_id, describe(failure))
    ended = (
        await end(services, run_id, ErrorCode.MAX_DELIVERIES_EXCEEDED, reason) if run_id else None
    )
    return Verdict("rejected" if ended or not run_id else "failed", error, ended)


async def end(services: RunServices, run_id: str, code: str, reason: str) -> str | None:
    """Fail the run; the code it ended with (also when it had already ended), or None when
    there is no such run or the World would not take the write (then the message is retried)."""
    world = services.world
    try:
        codec = await services.codecs.get(run_id)
        await end_run_from_outside(world, codec, EventType.RUN_FAILED, code=code, message=reason)
        return code
    except RunNotFoundError:
        return None
    except CorruptedDataError as error:
        # The log cannot be read, so nothing can be appended at its head: the run record
        # still says why the run ended.
        log.warning("run %s: log unreadable (%s); failing its record only", run_id, error)
        try:
            await world.runs.update_status(
                run_id, RunStatus.FAILED, updated_at=world.clock.time(), error_code=code
            )
            return code
        except Exception as failure:
            log.warning("could not fail run %s: %s", run_id, describe(failure))
            return None
    except Exception as failure:
        log.warning("could not fail run %s: %s", run_id, describe(failure))
        return None


def _names(raw: Any) -> tuple[str | None, str]:
    """The run id and kind a message names, read as leniently as possible."""
    if isinstance(raw, bytes | bytearray):
        raw = raw.decode("utf-8", errors="replace")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None, "malformed"
    if not isinstance(raw, dict):
        return None, "malformed"
    run_id = raw.get("run_id")
    kind = raw.get("kind")
    valid = isinstance(run_id, str) and run_id.startswith("run_")
    return (run_id if valid else None), (
        kind if kind in ("workflow", "step", "timer") else "malformed"
    )
