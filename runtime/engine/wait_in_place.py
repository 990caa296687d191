"""Waiting in place: the workflow invocation that queues a step drives the run on.

A cold workflow invocation re-executes the run's whole history (coroutines cannot be
serialized), so the way to make cold runs cheap is to have fewer of them. When a workflow
invocation queues steps (their timeout is too long to run them inline, or a fan-out), it waits
for their outcomes for a bounded time (`wait_seconds()`, within its own budget) instead of
ending: its instance is warm, so feeding an outcome costs what a warm invocation costs, and
the next step is issued from there. Within one host a step's outcome wakes it at once
(`FunctionHost.outcome_recorded`); across hosts it polls the log with a backoff.

Who wakes the workflow for a step's outcome, so that no outcome is left unread (liveness,
docs/invariants.md #8) and a quick queued step costs one queue message, not two:

- The waiter reads the log once more after it stops waiting (`WINDOW_MARGIN` after its window
  `StepMessage.wait_until`, or at once when it stops early), and until then its own message is
  unacknowledged: if it dies, that message comes back and replays.
- So a step whose outcome is recorded while a waiter of its run is registered in the same host,
  or before `wait_until` by the step host's clock (hosts' clocks differ by less than the
  margin), sends no continuation: the waiter, or its message's redelivery, reads it.
- An outcome recorded after `wait_until + 2 * WINDOW_MARGIN` gets the plain continuation every
  step sends. One recorded in between, where the waiter may or may not have read it, gets a
  continuation with `WorkflowMessage.after` (the log's length after the outcome), delayed until
  the waiter is surely done. When it arrives, `settled()` decides from the log after the
  outcome, without loading the run: a workflow event there was written by an invocation that
  had fed the outcome (appends are conditional on the writer's cursor), so the message has
  nothing left to do; otherwise it is handled as any continuation.
"""

from __future__ import annotations

import os

from ..world import World
from .events import EventType
from .messages import StepMessage, WorkflowMessage

WAIT_ENV = "STEPLANE_WAIT_IN_PLACE_SECONDS"
DEFAULT_WAIT_SECONDS = 2.0
"""How long a workflow invocation waits for the steps it queued (0 turns waiting off). Short
steps (the common case) finish well inside it; a long one costs this much idle time once."""

MIN_WAIT_SECONDS = 0.05
"""Below this much time left in the invocation's budget it does not wait at all."""

FIRST_POLL_SECONDS = 0.01
MAX_POLL_SECONDS = 0.2
"""Polls of the log while waiting back off between these (a same-host outcome wakes at once)."""

COALESCE_SECONDS = 0.005
"""Woken while several steps are still awaited (a fan-out), the waiter lets this much time pass
before reading, so one read takes in several outcomes."""

WINDOW_MARGIN = 0.5
"""The waiter keeps reading this long past `wait_until`: more than hosts' clocks differ."""

_WRITTEN_AFTER_FEEDING = frozenset(
    {
        EventType.STEP_CREATED,
        EventType.WAIT_CREATED,
        EventType.WAIT_COMPLETED,
        EventType.HOOK_CREATED,
        EventType.HOOK_CONFLICT,
        EventType.HOOK_DISPOSED,
    }
)
"""Events only a workflow invocation writes, at its cursor, after feeding every event before."""


def wait_seconds() -> float:
    raw = os.environ.get(WAIT_ENV)
    return float(raw) if raw else DEFAULT_WAIT_SECONDS


def continuation(
    message: StepMessage, workflow: str, head: int, now: float, max_delay: float
) -> tuple[WorkflowMessage, float] | None:
    """The workflow message (and its delay) a step invocation sends once it recorded the
    step's outcome, `head` being the log's length after it, when no waiter of its run is
    registered in its host; None when the invocation that queued the step will still read
    the outcome (module doc)."""
    if message.wait_until is None or now > message.wait_until + 2 * WINDOW_MARGIN:
        return WorkflowMessage(message.run_id, workflow), 0.0  # nobody waits (any more)
    if now < message.wait_until:
        return None
    delay = min(message.wait_until + 2 * WINDOW_MARGIN - now, max_delay)
    return WorkflowMessage(message.run_id, workflow, after=head), delay


async def settled(world: World, message: WorkflowMessage) -> bool:
    """Whether a step's continuation has nothing left to do (see the module doc): the log
    after `message.after` holds an event a workflow invocation wrote after feeding the
    outcome, or the run has ended and its record says so. Costs one log read from `after`
    (on AWS a GetItem or two) and, for an ended run, one read of its record."""
    if message.after is None:
        return False
    events = await world.log.read(message.run_id, message.after)
    if not events:
        return False
    if events[-1].is_terminal:
        record = await world.runs.get(message.run_id)
        return record is not None and record.status.is_terminal
    return any(event.type in _WRITTEN_AFTER_FEEDING for event in events)
