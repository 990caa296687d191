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

import asyncio
import os
from collections.abc import Awaitable, Callable

from ..world import World
from .events import Event, EventType
from .messages import StepMessage, WorkflowMessage
from .services import WorkflowServices

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


_OUTCOMES = frozenset({EventType.STEP_COMPLETED, EventType.STEP_FAILED, EventType.STEP_RETRYING})
"""Events after which a queued step is no longer worth waiting for (done, or backing off)."""


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


class StepWaiter:
    """One workflow invocation's wait for the steps it queues: the host's wake-up for the run
    (`news`, claimed once), the window the step messages promise (`window`), the steps still
    awaited and when the wait ends. Within the invocation's budget (`deadline`, loop time)."""

    def __init__(self, services: WorkflowServices, run_id: str, deadline: float) -> None:
        self.services = services
        self.run_id = run_id
        self.deadline = deadline
        self.news: asyncio.Event | None = None
        self.window = 0.0  # seconds the step messages being built promise to wait
        self.awaited: set[str] = set()
        self.end = 0.0

    def plan(self, queues_steps: bool) -> None:
        """Set the window for the batch being decided: the host's setting, within the budget,
        if the batch queues steps and the host has a waiting slot; else 0 (no wait)."""
        self.window = self._open_window() if queues_steps else 0.0

    def _open_window(self) -> float:
        left = self.deadline - asyncio.get_running_loop().time() - 2 * WINDOW_MARGIN
        seconds = min(self.services.wait_in_place_seconds, left)
        if seconds < MIN_WAIT_SECONDS:
            return 0.0
        if self.news is None:
            self.news = self.services.claim_wait(self.run_id)
        return seconds if self.news is not None else 0.0

    def wait_until(self, now: float) -> float | None:
        """The `StepMessage.wait_until` of a step queued now (None: nobody waits for it)."""
        return now + self.window if self.window else None

    def queued(self, message: StepMessage, sent_at: float) -> None:
        """A step message was sent: wait for its outcome if it promises a waiter."""
        if message.wait_until is not None:
            self.awaited.add(message.step_id)
            self.end = sent_at + self.window + WINDOW_MARGIN

    def all_queued(self, messages: int) -> None:
        """Sending a wide fan-out's messages one by one can take longer than the window
        (1,000 sends on a loaded machine): the window starts once they are out."""
        if self.awaited and messages > 1:
            self._extend(asyncio.get_running_loop().time())

    def fed(self, event: Event) -> None:
        """The instance was fed `event`: a step's outcome is no longer awaited."""
        if self.awaited and event.type in _OUTCOMES:
            self.awaited.discard(event.correlation_id or "")

    def _extend(self, now: float) -> None:
        """Outcomes came in: keep waiting up to a window past now (within the budget).

        A fan-out whose steps outlast the first window (a wide one, a loaded machine) would
        otherwise stop waiting mid-way, and each later outcome would send a continuation and
        cost a workflow invocation: calls per step that depended on the machine's speed.
        Extending on progress is safe: a step host that finds this waiter registered sends no
        continuation, and the invocation reads once more after giving up its registration;
        one in another host goes by its message's `wait_until`, which stays as it was."""
        budget_end = self.deadline - 2 * WINDOW_MARGIN
        self.end = max(self.end, min(now + self.services.wait_in_place_seconds, budget_end))

    async def wait(
        self, catch_up: Callable[[], Awaitable[list[Event]]], ended: Callable[[], bool]
    ) -> bool:
        """Wait for an outcome of the queued steps until the window ends; True when
        `catch_up` fed new events (the caller decides again). Woken at once by an outcome
        recorded in this host, else polling the log with a backoff. Leaving, it gives up its
        registration and then reads once more: a step that found it registered, or finished
        inside the window, sent no continuation (module doc)."""
        news = self.news
        if news is None:
            return False
        loop = asyncio.get_running_loop()
        interval = FIRST_POLL_SECONDS
        while self.awaited and not ended():
            left = self.end - loop.time()  # the window fits the budget (`_open_window`)
            if left <= 0:
                break
            try:
                await asyncio.wait_for(news.wait(), min(interval, left))
                if len(self.awaited) > 1:  # more outcomes to come: one read for several
                    await asyncio.sleep(min(COALESCE_SECONDS, left))
            except TimeoutError:
                interval = min(2 * interval, MAX_POLL_SECONDS)
            news.clear()
            if await catch_up():
                self._extend(loop.time())
                return True
        self.release()
        self.awaited.clear()
        return bool(await catch_up())

    def release(self) -> None:
        """Give the host's waiting slot back (at the latest when the invocation ends)."""
        if self.news is not None:
            self.services.release_wait(self.run_id, self.news)
            self.news = None
