"""Every exception steplane raises, in one place so users can import them from `runtime`.

Errors a user can act on carry a message that names the problem; run failures carry a stable
`code` (see `ErrorCode`) that tools and tests can match on without parsing messages.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from .durations import parse_duration


class ErrorCode(StrEnum):
    """Why a run failed; recorded in `run_failed` events and on the run record."""

    USER_ERROR = "USER_ERROR"
    RUNTIME_ERROR = "RUNTIME_ERROR"
    REPLAY_DIVERGENCE = "REPLAY_DIVERGENCE"
    CORRUPTED_EVENT_LOG = "CORRUPTED_EVENT_LOG"
    MAX_DELIVERIES_EXCEEDED = "MAX_DELIVERIES_EXCEEDED"
    MAX_EVENTS_EXCEEDED = "MAX_EVENTS_EXCEEDED"
    MAX_RUN_BYTES_EXCEEDED = "MAX_RUN_BYTES_EXCEEDED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"


class SteplaneError(Exception):
    """Base class of the errors steplane itself raises."""


# --- errors users raise from steps -------------------------------------------------------


class FatalError(Exception):
    """Raise from a step to fail it at once: it is never retried."""


class RetryableError(Exception):
    """Raise from a step to retry it no earlier than `retry_after` (any `sleep` duration form)."""

    def __init__(self, message: str = "", retry_after: Any = None) -> None:
        if retry_after is not None:
            parse_duration(retry_after)  # a bad duration fails here, where it was written
        super().__init__(message)
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.retry_after))


# --- errors steplane raises into user code ------------------------------------------------


class StepFailedError(SteplaneError):
    """A step failed for good and its exception type could not be rebuilt in the workflow."""

    def __init__(self, type_name: str, message: str, step_name: str = "") -> None:
        where = f"step {step_name!r} " if step_name else "step "
        super().__init__(f"{where}failed with {type_name}: {message}")
        self.type_name = type_name
        self.message = message
        self.step_name = step_name

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.type_name, self.message, self.step_name))


class StepTimeoutError(SteplaneError):
    """A step attempt ran past its `@step(timeout=...)`: recorded as a failed attempt and
    retried like any other failure (a plain-def step's thread cannot be stopped; its late
    result is ignored)."""

    def __init__(self, step_name: str, timeout: str) -> None:
        super().__init__(f"step {step_name!r} timed out after {timeout}")
        self.step_name = step_name
        self.timeout = timeout

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.step_name, self.timeout))


class StepInvocationError(StepFailedError):
    """A step failed because its invocation did, not its code: the host running an attempt
    died (crash, kill, timeout) before recording an outcome, or the step's message failed on
    its last allowed delivery. `type_name` is the run error code it stands for
    (`RUNTIME_ERROR`, `MAX_DELIVERIES_EXCEEDED`); uncaught, the run fails with that code."""


class SerializationError(SteplaneError, TypeError):
    """A value cannot be stored: it is not one of the serializable types, or it is too large."""


class PayloadTooLargeError(SerializationError):
    """A single payload (argument, result, hook payload, stream chunk) exceeds the size limit."""


class RunTooLargeError(PayloadTooLargeError):
    """Storing a value would take the run's stored payloads past `Limits.max_run_bytes` (2 GB
    by default); nothing of it was written. See docs/serialization.md for what counts."""

    def __init__(self, run_id: str, total: int, limit: int, what: str = "this write") -> None:
        super().__init__(
            f"run {run_id} would store {total} bytes of payloads ({total / 2**20:.1f} MB) with "
            f"{what}, over its limit of {limit} bytes ({limit / 2**20:.1f} MB) per run"
        )
        self.run_id, self.total, self.limit, self.what = run_id, total, limit, what

    def __reduce__(self) -> tuple[type[RunTooLargeError], tuple[str, int, int, str]]:
        return (type(self), (self.run_id, self.total, self.limit, self.what))


class WorkflowFailedError(SteplaneError):
    """`Run.result()` of a run that failed or was cancelled."""

    def __init__(self, code: str, message: str, run_id: str = "") -> None:
        prefix = f"run {run_id} " if run_id else "run "
        super().__init__(f"{prefix}failed ({code}): {message}")
        self.code = code
        self.message = message
        self.run_id = run_id

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.code, self.message, self.run_id))


class HookNotFoundError(SteplaneError, LookupError):
    """`resume_hook` with a token no live hook holds (unknown, disposed, or its run ended)."""


class HookConflictError(SteplaneError):
    """`create_hook` with a token that another live hook already holds."""


class WorkflowNotFoundError(SteplaneError, LookupError):
    """A workflow or step name that is not registered in this process."""


class RunNotFoundError(SteplaneError, LookupError):
    """A run id the World does not know."""


class InvalidMessageError(SteplaneError, ValueError):
    """A queue message the function host cannot process (malformed, or names unknown code)."""


class ForeignDeploymentError(SteplaneError):
    """A message of a run pinned to another deployment reached a host that cannot hand it on
    (its World's queue has no route to that deployment): retried, it may reach the right host;
    if none serves that deployment the give-up policy ends the run, saying so."""


class ConfigurationError(SteplaneError):
    """steplane is used without a World, or with settings that cannot work."""


class NotInWorkflowError(SteplaneError, RuntimeError):
    """A workflow-only API (sleep, create_hook, ...) was called outside a workflow or step."""


class WorkflowThreadError(SteplaneError, RuntimeError):
    """A step was called from a thread other than its workflow's own (e.g. a `threading.Thread`
    started by workflow code): the call cannot be recorded, so it is refused and the run fails."""


# --- World-level signals (the engine handles these; users rarely see them) ---------------


class AppendConflictError(SteplaneError):
    """Another writer appended at the expected position first: re-read and try again.

    `newer`, when the World knows them without a round trip, holds the events at `position`,
    `position + 1`, ... up to the end as far as it knows it: a writer may take them instead of
    reading (its next conditional append tells it if more came since). None: read them."""

    def __init__(self, run_id: str, position: int, newer: list[Any] | None = None) -> None:
        super().__init__(f"run {run_id}: position {position} was already written")
        self.run_id = run_id
        self.position = position
        self.newer = newer


class RunTerminalError(SteplaneError):
    """The run already completed, failed or was cancelled: it accepts nothing new."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"run {run_id} has ended and accepts no new events")
        self.run_id = run_id


class CorruptedDataError(SteplaneError):
    """A run's stored data cannot be trusted or read: a ciphertext failed its integrity check,
    a payload's blob is missing, or the log holds an event type this runtime does not know. A
    workflow invocation that meets one fails the run with `CORRUPTED_EVENT_LOG`."""
