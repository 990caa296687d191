"""Running one step attempt and deciding what its outcome means: done, retry later, or failed.

Shared by inline execution (inside a workflow invocation) and queued step invocations, so both
record exactly the same events: `step_started` then one of `step_completed`, `step_retrying`,
`step_failed`.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import serde
from ..context import StepContext, StepMetadata, WorkflowMetadata, step_context, utc
from ..definitions import StepDef
from ..durations import parse_duration
from ..errors import (
    FatalError,
    RetryableError,
    SerializationError,
    StepInvocationError,
    StepTimeoutError,
)
from .codec import RunCodec
from .events import ATTEMPT_OUTCOME, Event, EventType
from .run_bytes import RunBudget
from .tracing import attempt_span
from .tracing import enabled as tracing_enabled

BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 60.0


def backoff_delay(attempt: int) -> float:
    """Exponential backoff with jitter: about 1 s, 2 s, 4 s, ... capped at 60 s."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
    return ceiling * (0.5 + random.random() / 2)


@dataclass
class StepOutcome:
    """What one attempt produced. `kind` is the event type to record."""

    kind: EventType
    attempt: int
    started_at: float
    finished_at: float
    data: bytes | None
    error_type: str | None = None
    retry_at: float | None = None

    @property
    def finished(self) -> bool:
        return self.kind != EventType.STEP_RETRYING

    async def events(self, codec: RunCodec, step_id: str, step_name: str) -> list[Event]:
        """`step_started` + the outcome event, ready to append as one batch."""
        started = await codec.event(
            EventType.STEP_STARTED,
            correlation_id=step_id,
            attrs={"attempt": self.attempt},
            created_at=self.started_at,
        )
        attrs: dict[str, Any] = {"attempt": self.attempt, "step_name": step_name}
        if self.error_type:
            attrs["error_type"] = self.error_type
        if self.retry_at is not None:
            attrs["retry_at"] = self.retry_at
        finished = await codec.event(
            self.kind,
            correlation_id=step_id,
            attrs=attrs,
            data=self.data,
            created_at=self.finished_at,
        )
        return [started, finished]


async def run_attempt(
    step: StepDef,
    args_value: dict[str, Any],
    *,
    step_id: str,
    attempt: int,
    workflow: WorkflowMetadata,
    clock_time: Callable[[], float],
    open_writer: Callable[[str | None], Any],
    max_payload_bytes: int,
    budget: RunBudget,
) -> StepOutcome:
    """Run the step function once and classify the result (never raises for user errors).
    A result over the payload limit, or over what the run may still store (`budget`), fails
    the step before anything is written. Traced as one `steplane.step` span (engine/tracing.py)."""
    call = (step, args_value, step_id, attempt, workflow, clock_time, open_writer)
    if not tracing_enabled():
        return await _attempt(*call, max_payload_bytes, budget)
    with attempt_span(workflow.run_id, step.name, step_id, attempt) as ended:
        outcome = await _attempt(*call, max_payload_bytes, budget)
        ended(ATTEMPT_OUTCOME[outcome.kind])
    return outcome


async def _attempt(
    step: StepDef,
    args_value: dict[str, Any],
    step_id: str,
    attempt: int,
    workflow: WorkflowMetadata,
    clock_time: Callable[[], float],
    open_writer: Callable[[str | None], Any],
    max_payload_bytes: int,
    budget: RunBudget,
) -> StepOutcome:
    started_at = clock_time()
    metadata = StepMetadata(workflow.run_id, step_id, step.name, attempt, utc(started_at))
    context = step_context(StepContext(metadata, workflow, clock_time, open_writer))
    args, kwargs = args_value["args"], args_value["kwargs"]
    try:
        # Both kinds run inside `_contained`: a task that raises SystemExit would take the
        # event loop (and every other invocation on it) down with it.
        if step.is_async:
            call = asyncio.get_running_loop().create_task(
                _contained(step.fn(*args, **kwargs)), context=context
            )
        else:
            thread = asyncio.to_thread(context.run, step.fn, *args, **kwargs)
            call = asyncio.ensure_future(_contained(thread))
        ok, result = await _within_timeout(step, call)
        if not ok:
            raise result
        data = serde.dumps(result, what="result")
        serde.check_size(data, max_payload_bytes, f"result of step {step.name!r}")
        budget.check(data, f"the result of step {step.name!r}")
    except asyncio.CancelledError:
        if _being_cancelled():
            raise  # the invocation itself is cancelled: never swallow that
        return _failure(step, asyncio.CancelledError(), attempt, started_at, clock_time())
    except BaseException as error:  # a step's failure is data, even SystemExit: never a host exit
        return _failure(step, error, attempt, started_at, clock_time())
    return StepOutcome(EventType.STEP_COMPLETED, attempt, started_at, clock_time(), data)


async def _within_timeout(step: StepDef, call: asyncio.Future[Any]) -> Any:
    """The call's result, or StepTimeoutError once `step.timeout` has passed.

    An async step is cancelled (its `finally` blocks run). A plain-def step runs in a thread
    that Python cannot stop: the attempt is recorded as timed out and whatever the thread
    returns later is dropped, so a sync step with a timeout must tolerate running on after it.
    """
    if step.timeout is None:
        return await call
    try:
        return await asyncio.wait_for(call, step.timeout)
    except TimeoutError:  # the step's own TimeoutError comes back as a value (_contained)
        raise StepTimeoutError(step.name, step.timeout_text) from None


async def _contained(coro: Any) -> tuple[bool, Any]:
    """Run the step's coroutine, returning what it raised instead of raising it: asyncio
    re-raises SystemExit and KeyboardInterrupt out of a task straight into the event loop,
    which would end every invocation the process runs, not just this step."""
    try:
        return True, await coro
    except asyncio.CancelledError:
        if _being_cancelled():
            raise
        return False, asyncio.CancelledError()
    except BaseException as error:
        return False, error


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def invocation_failure(
    step: StepDef,
    attempt: int,
    started_at: float,
    now: float,
    code: str,
    reason: str,
    *,
    final: bool,
) -> StepOutcome:
    """The outcome of an attempt the host could not complete (see StepInvocationError):
    retried like any failure unless `final` or out of retries."""
    error = StepInvocationError(str(code), reason, step.name)  # plain str: serializable
    if final:
        data = serde.dumps(serde.encode_exception(error), what="error")
        error_type = serde.encode_exception(error)["type"]
        return StepOutcome(EventType.STEP_FAILED, attempt, started_at, now, data, error_type)
    return _failure(step, error, attempt, started_at, now)


def too_large(step: StepDef, outcome: StepOutcome, error: SerializationError) -> StepOutcome:
    """`outcome` replaced by the step's failure with `error`, a value that cannot be stored
    (never retried: the same result would not fit again)."""
    return _failure(step, error, outcome.attempt, outcome.started_at, outcome.finished_at)


def _failure(
    step: StepDef, error: BaseException, attempt: int, started_at: float, now: float
) -> StepOutcome:
    info = serde.encode_exception(error)
    data = serde.dumps(info, what="error")
    error_type = info["type"]
    retryable = (
        not isinstance(error, FatalError | SerializationError) and attempt <= step.max_retries
    )
    if not retryable:
        return StepOutcome(EventType.STEP_FAILED, attempt, started_at, now, data, error_type)
    delay = backoff_delay(attempt)
    if isinstance(error, RetryableError) and error.retry_after is not None:
        delay = parse_duration(error.retry_after)  # validated when the error was made
    return StepOutcome(
        EventType.STEP_RETRYING, attempt, started_at, now, data, error_type, now + delay
    )
