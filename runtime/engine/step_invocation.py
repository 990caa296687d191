"""One queued step attempt: find the step in the log, run it, record the outcome, hand back.

Safe under at-least-once delivery: a step already finished only re-sends the workflow's
continuation; a duplicate attempt racing another loses the conditional append, sees the
winner's outcome, and records nothing.

A host that dies mid-step (killed, out of memory, `os._exit`, a Lambda timeout) records
nothing; the same message then comes back with a higher receive count. Such a redelivery first
records the lost attempt as failed (`StepInvocationError`, code RUNTIME_ERROR), so it counts
toward the step's `max_retries`: a step that always crashes its host ends as a failed step the
workflow sees, not as a message in the dead-letter queue. (A delivery that failed for another
reason before running the step counts too: the log cannot tell them apart.)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..context import WorkflowMetadata
from ..definitions import StepDef
from ..errors import (
    AppendConflictError,
    ErrorCode,
    InvalidMessageError,
    RunNotFoundError,
    RunTerminalError,
)
from ..registry import get_step
from . import locks
from .events import TERMINAL_EVENT_TYPES, Event, EventType
from .messages import StepMessage, WorkflowMessage
from .run_bytes import RUN_BYTES, RunBudget, RunTooLargeError, stamp, total_after
from .services import StepServices
from .step_runner import StepOutcome, invocation_failure, run_attempt, too_large
from .wait_in_place import continuation

FRESH_SECONDS = 1.0
"""How old this process's view of a run's log may be for a step invocation to start from it
without reading (`_read_state`); the same bound as an inline step's view."""

DEFAULT_STEP_LEASE = 900.0
"""How long a step attempt holds a limit's permit at most without `timeout=` or `lease=`:
Lambda's longest invocation."""


@dataclass
class StepState:
    """What the log says about one step, read from its `step_created` event onward."""

    created: Event | None = None
    attempts: int = 0
    retry_at: float | None = None
    finished: bool = False
    run_ended: bool = False
    head: int = 0
    last_at: float = 0.0
    """When the step last showed progress (created, started, retrying): recovery's clock."""
    run_bytes: int = 0
    """The run's stored payload total at the head (carried by the log's last batch)."""

    def feed(self, events: list[Event], step_id: str) -> None:
        """Take in `events` (the log from some position on). A step invocation in a fan-out of
        N reads from its own `step_created` to the head, which holds the other steps' events:
        up to 2N of them, so this loop is the inner loop of an O(N²) total and does only
        what every event needs. The run's byte total is worked out once, from the last event
        that carries it (every appended batch stamps its last event), not event by event."""
        if not events:
            return
        for event in events:
            if event.correlation_id == step_id:
                self.apply(event)
            if event.type in TERMINAL_EVENT_TYPES:
                self.run_ended = True
        self.head = events[-1].seq + 1
        self.run_bytes = total_after(events[_last_stamped(events) :], self.run_bytes)

    def apply(self, event: Event) -> None:
        """Take in one event of this step."""
        if event.type == EventType.STEP_CREATED:
            self.created = event
        elif event.type == EventType.STEP_STARTED:
            self.attempts += 1
        elif event.type == EventType.STEP_RETRYING:
            self.retry_at = float(event.attrs["retry_at"])
        elif event.type in (EventType.STEP_COMPLETED, EventType.STEP_FAILED):
            self.finished = True
            return
        self.last_at = event.created_at


def _last_stamped(events: list[Event]) -> int:
    """The index of the last event carrying the run's byte total (0 if none does): the total
    after `events` depends only on the events from there on."""
    for index in range(len(events) - 1, -1, -1):
        if isinstance(events[index].attrs.get(RUN_BYTES), int):
            return index
    return 0


async def _read_state(
    services: StepServices, message: StepMessage, receive_count: int = 1
) -> StepState:
    """What the log says about the step, from its hint to the head.

    A first delivery takes this process's own view of the log when it is younger than
    `FRESH_SECONDS` and holds the step (the AWS log's `known`: in a fan-out the process
    appended the last outcome a moment ago): no read. As for an inline step (invariants #3),
    everything the invocation writes is a conditional append at the view's end, so an event
    recorded since (another attempt's outcome, a cancel) makes it fail, and `_record` takes
    in what beat it; what a stale view can cost is one attempt of the step started after a
    cancel or after another copy of the message finished it, which at-least-once steps
    allow. A redelivery, which may be repairing a crash, reads."""
    world = services.world
    seen = (
        world.log.known(message.run_id, message.hint, FRESH_SECONDS) if receive_count == 1 else None
    )
    if seen is not None:
        state = StepState()
        state.feed(seen[0], message.step_id)
        if state.created is not None:
            return state
    state = StepState()
    state.feed(await world.log.read(message.run_id, message.hint), message.step_id)
    if state.created is None and message.hint:
        state = StepState()
        state.feed(await world.log.read(message.run_id), message.step_id)
    if state.head == 0:  # a step is queued only once its run's log holds it: no such run
        raise RunNotFoundError(
            f"no run {message.run_id!r} in this World (purged, or never created)"
        )
    if state.created is None:
        raise InvalidMessageError(f"run {message.run_id} has no step {message.step_id}")
    return state


async def run_step_message(
    services: StepServices, message: StepMessage, receive_count: int = 1
) -> None:
    step = get_step(message.step)
    world = services.world
    state = await _read_state(services, message, receive_count)
    if state.run_ended:
        await _release_permit(services, message, step, state)
        return
    workflow = await services.workflow_metadata(message.run_id)
    now = world.clock.time()
    due = state.retry_at is None or now >= state.retry_at
    if receive_count > 1 and not state.finished and due:
        reason = (
            f"attempt {state.attempts + 1} ended without recording an outcome: the host "
            f"running it crashed, was killed or timed out (delivery {receive_count})"
        )
        outcome = invocation_failure(
            step, state.attempts + 1, now, now, ErrorCode.RUNTIME_ERROR, reason, final=False
        )
        if not await _record(services, message, step, state, outcome):
            return
    if state.finished:
        await _release_permit(services, message, step, state)
        await services.send(WorkflowMessage(message.run_id, workflow.workflow_name), 0.0)
        return
    if state.retry_at is not None and now < state.retry_at:
        early = StepMessage(
            message.run_id, message.step_id, step.name, message.hint, state.attempts + 1
        )
        await services.send(early, min(state.retry_at - now, world.queue.max_delay))
        return
    if step.flow_controlled and not await _admitted(services, message, step, state):
        return  # a slot later, or a permit's hand-off, sends the message again
    try:
        await _attempt(services, message, step, state, workflow)
    finally:
        await _release_permit(services, message, step, state)


# --- @step(concurrency=..., rate=...) (engine/locks.py) ---------------------------------------


async def _flow_keys(
    services: StepServices, message: StepMessage, step: StepDef, state: StepState
) -> tuple[str | None, str | None]:
    """The coordination keys of the step's rate and limit for this call's arguments."""
    assert state.created is not None
    codec = await services.codecs.get(message.run_id)
    call = await codec.open(state.created)
    args, kwargs = call["args"], call["kwargs"]
    rate = step.rate and locks.lock_key("rate", step.rate.key_of(step.name, args, kwargs))
    limit = step.concurrency and locks.lock_key(
        "limit", step.concurrency.key_of(step.name, args, kwargs)
    )
    return rate, limit


async def _admitted(
    services: StepServices, message: StepMessage, step: StepDef, state: StepState
) -> bool:
    """Whether the attempt may run now: its rate slot has come (a first delivery reserves
    one and is sent again for it) and it holds a permit of its limit (else it waits in the
    limit's queue, woken by a hand-off, or by its own re-check when the earliest lease ends)."""
    world = services.world
    rate_key, limit_key = await _flow_keys(services, message, step, state)
    now = world.clock.time()
    if rate_key is not None and step.rate is not None:
        slot = message.slot
        if slot is None:
            slot = await locks.reserve_slot(world, rate_key, step.rate.interval)
            message = replace(message, slot=slot)
        if slot > now:
            await services.send(message, min(slot - now, world.queue.max_delay))
            return False
    if limit_key is None or step.concurrency is None:
        return True
    lease = step.concurrency.lease_seconds or step.timeout or DEFAULT_STEP_LEASE
    grant = await locks.acquire(
        world,
        limit_key,
        f"{message.run_id}/{message.step_id}",
        max_holders=step.concurrency.max,
        lease=lease,
        wake=message.body(),
        order=now,
    )
    await locks.send_wakes(world, grant.woken)
    if not grant.granted and grant.recheck_at is not None:
        await services.send(message, max(0.0, min(grant.recheck_at - now, world.queue.max_delay)))
    return grant.granted


async def _release_permit(
    services: StepServices, message: StepMessage, step: StepDef, state: StepState
) -> None:
    if step.concurrency is None or state.created is None:
        return
    _, limit_key = await _flow_keys(services, message, step, state)
    assert limit_key is not None
    holder = f"{message.run_id}/{message.step_id}"
    await locks.send_wakes(services.world, await locks.release(services.world, limit_key, holder))


async def _attempt(
    services: StepServices,
    message: StepMessage,
    step: StepDef,
    state: StepState,
    workflow: WorkflowMetadata,
) -> None:
    world = services.world
    codec = await services.codecs.get(message.run_id)
    assert state.created is not None
    attempt = state.attempts + 1
    outcome = await run_attempt(
        step,
        await codec.open(state.created),
        step_id=message.step_id,
        attempt=attempt,
        workflow=workflow,
        clock_time=world.clock.time,
        open_writer=services.writer_opener(codec),
        max_payload_bytes=world.limits.max_payload_bytes,
        budget=RunBudget(message.run_id, state.run_bytes, world.limits.max_run_bytes),
    )
    if not await _record(services, message, step, state, outcome):
        return
    if outcome.finished:
        if not services.outcome_recorded(message.run_id):  # else a waiter here reads it
            now, max_delay = world.clock.time(), world.queue.max_delay
            wake = continuation(message, workflow.workflow_name, state.head, now, max_delay)
            if wake is not None:
                await services.send(*wake)
    else:
        assert outcome.retry_at is not None
        retry = StepMessage(message.run_id, message.step_id, step.name, message.hint, attempt + 1)
        await services.send(
            retry, max(0.0, min(outcome.retry_at - world.clock.time(), world.queue.max_delay))
        )


async def _record(
    services: StepServices,
    message: StepMessage,
    step: StepDef,
    state: StepState,
    outcome: StepOutcome,
) -> bool:
    """Append the attempt's events at the head; False when another writer recorded this
    attempt (or the step's end, or the run's) first: its outcome stands. `state` is fed.

    A result that fit the run's budget when the attempt began but no longer does (other steps
    recorded theirs meanwhile) fails the step instead, as a too-large value does."""
    world = services.world
    codec = await services.codecs.get(message.run_id)
    batch = await outcome.events(codec, message.step_id, step.name)
    while True:
        try:
            batch = stamp(message.run_id, batch, state.run_bytes, world.limits.max_run_bytes)
        except RunTooLargeError as error:
            outcome = too_large(step, outcome, error)
            batch = await outcome.events(codec, message.step_id, step.name)
            batch = stamp(message.run_id, batch, state.run_bytes, None)
        try:
            await world.log.append(message.run_id, state.head, batch)
        except (AppendConflictError, RunTerminalError) as lost:
            # N results of a fan-out race for the head: a loser takes what beat it from the
            # error when the World knows it, instead of a read per lost race.
            newer = lost.newer if isinstance(lost, AppendConflictError) else None
            if newer is None:
                newer = await world.log.read(message.run_id, state.head)
            state.feed(newer, message.step_id)
            if state.finished or state.run_ended or state.attempts >= outcome.attempt:
                return False
            continue
        state.feed([e.at(state.head + i) for i, e in enumerate(batch)], message.step_id)
        return True


async def give_up_step(services: StepServices, message: StepMessage, reason: str) -> None:
    """The step's message failed on its last allowed delivery: record the step as failed for
    good (the workflow sees a StepInvocationError it can catch) and wake the workflow."""
    step = get_step(message.step)
    state = await _read_state(services, message)
    if state.run_ended:
        return
    if not state.finished:
        now = services.world.clock.time()
        outcome = invocation_failure(
            step,
            state.attempts + 1,
            now,
            now,
            ErrorCode.MAX_DELIVERIES_EXCEEDED,
            reason,
            final=True,
        )
        await _record(services, message, step, state, outcome)
    workflow = await services.workflow_metadata(message.run_id)
    await services.send(WorkflowMessage(message.run_id, workflow.workflow_name), 0.0)
