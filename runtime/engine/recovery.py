"""Recovery that always works: re-wake a run, and the reconciler that finds stalled runs.

`rewake(services, run_id)` reads the run's log and re-sends exactly the work that is pending and
not in flight, whatever happened before (a lost message, a dead-lettered one, a host that died
between appending and sending): step messages for unfinished steps, wake-ups for waits, and a
workflow continuation when the log ends with something the workflow has not yet reacted to.
It never depends on a message's receive count. Receivers are idempotent (conditional appends;
queue idempotency keys where the queue has them), so re-sending work still in the queue or in
flight costs an invocation, never a double record.

"In flight" is judged by age: work whose last event is younger than `stale_after` seconds is
left alone (its message is presumably waiting or running). A wait not yet due is left to its
own (chained) wake-up unless `stale_after` is 0 (an explicit repair), so a sleeping run is not
touched by the reconciler.

`reconcile(services)` is one pass: it lists non-terminal runs not updated for `stall_seconds`
(`STEPLANE_STALL_SECONDS`, default 300) through the runs store's sharded status index, at most
`limit` per status (the cost of a pass is bounded), and re-wakes those whose log shows no
progress for that long. Lambda runs it on an EventBridge Scheduled Event; the emulator runs it
periodically.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from ..errors import RunNotFoundError
from .events import Event, EventType, RunStatus
from .hook_records import hook_owners
from .lifecycle import apply_run_ending, deliver_child_ending
from .links import children_in_log, links_from_log
from .locks import lock_claims
from .messages import Message, StepMessage, WorkflowMessage, wake_message, with_deployment
from .services import RunServices
from .starting import TIMEOUT_WAKE
from .step_invocation import StepState

log = logging.getLogger("steplane.recovery")

STALL_ENV = "STEPLANE_STALL_SECONDS"
DEFAULT_STALL_SECONDS = 300.0
DEFAULT_PAGE_LIMIT = 100

Outbox = list[tuple[Message, float]]

_INPUTS = frozenset(
    {
        EventType.RUN_CREATED,
        EventType.RUN_STARTED,
        EventType.STEP_COMPLETED,
        EventType.STEP_FAILED,
        EventType.WAIT_COMPLETED,
        EventType.HOOK_RECEIVED,
        EventType.HOOK_CONFLICT,
        EventType.CHILD_CREATED,
        EventType.CHILD_ENDED,
        EventType.ATTRIBUTES_SET,
        EventType.LOCK_ACQUIRED,
    }
)
"""Events the workflow must run after: a log ending in one that is old lost its continuation."""


def stall_seconds() -> float:
    raw = os.environ.get(STALL_ENV)
    return float(raw) if raw else DEFAULT_STALL_SECONDS


@dataclass
class ReconcileSummary:
    checked: int = 0
    rewoken: int = 0
    errors: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"checked": self.checked, "rewoken": self.rewoken, "errors": self.errors}


def pending_work(
    run_id: str,
    log_events: list[Event],
    workflow: str,
    now: float,
    stale_after: float,
    max_delay: float,
    *,
    continuation: bool = True,
) -> Outbox:
    """The messages that carry on a run whose log is `log_events` (see the module doc)."""
    if not log_events:
        return []
    steps: dict[str, StepState] = {}
    waits: dict[str, float] = {}
    locks: dict[str, float] = {}  # waiting for a permit: since when
    for event in log_events:
        cid = event.correlation_id or ""
        if event.type == EventType.STEP_CREATED:
            steps[cid] = StepState()
        if cid in steps:
            steps[cid].apply(event)
        elif event.type == EventType.WAIT_CREATED:
            waits[cid] = float(event.attrs.get("resume_at", event.created_at))
        elif event.type == EventType.WAIT_COMPLETED:
            waits.pop(cid, None)
        elif event.type == EventType.LOCK_REQUESTED:
            locks[cid] = event.created_at
        elif event.type in (EventType.LOCK_ACQUIRED, EventType.LOCK_RELEASED):
            locks.pop(cid, None)
    outbox: Outbox = []
    for step_id, state in steps.items():
        if state.finished or state.created is None:
            continue
        name = str(state.created.attrs.get("step_name", ""))
        message = StepMessage(run_id, step_id, name, state.created.seq, state.attempts + 1)
        retry_at = state.retry_at
        if retry_at is not None and retry_at > now:  # backing off: its retry is not due yet
            if stale_after == 0:
                outbox.append((message, min(retry_at - now, max_delay)))
            continue
        if now - max(state.last_at, retry_at or 0.0) >= stale_after:  # else queued or running
            outbox.append((message, 0.0))
    for wait_id, resume_at in waits.items():
        overdue = now - resume_at
        if overdue >= stale_after:
            outbox.append((WorkflowMessage(run_id, workflow, wait_id), 0.0))
        elif stale_after == 0:
            outbox.append(wake_message(run_id, workflow, wait_id, resume_at, now, max_delay))
    for since in locks.values():  # a lost hand-off wake: look at the lock again
        if now - since >= stale_after:
            outbox.append((WorkflowMessage(run_id, workflow), 0.0))
            break
    last = log_events[-1]
    if continuation and last.type in _INPUTS and now - last.created_at >= stale_after:
        outbox.append((WorkflowMessage(run_id, workflow), 0.0))
    return outbox


async def rewake(services: RunServices, run_id: str, *, stale_after: float = 0.0) -> int:
    """Re-send the run's pending work that is not in flight; how many messages were sent
    (0 for an ended run, a healthy one, or one whose work is all recent)."""
    world = services.world
    record = await world.runs.get(run_id)
    if record is None:
        raise RunNotFoundError(f"no run {run_id!r} in this World")
    if record.status.is_terminal:
        return 0
    events = await world.log.read(run_id)
    if events and events[-1].is_terminal:  # ended, but the bookkeeping did not finish
        codec = await services.codecs.get(run_id)
        owners = await hook_owners(codec, events, live_only=False)
        await apply_run_ending(
            world, run_id, events[-1], owners, links_from_log(events), lock_claims(run_id, events)
        )
        return 0
    now = world.clock.time()
    sent = await _lost_endings(
        services, run_id, events, record.workflow_name, now, record.deployment
    )
    outbox = pending_work(
        run_id,
        events,
        record.workflow_name,
        now,
        stale_after,
        world.queue.max_delay,
    )
    for message, delay in outbox:  # the run's own deployment handles them (engine/messages.py)
        await services.send(with_deployment(message, record.deployment), delay)
    if outbox or sent:
        log.info("re-woke run %s: %d message(s)", run_id, len(outbox) + sent)
    return len(outbox) + sent


async def _lost_endings(
    services: RunServices,
    run_id: str,
    events: list[Event],
    workflow: str,
    now: float,
    deployment: str | None,
) -> int:
    """The backstops of what a run waits for outside its log: a child that ended without its
    `child_ended` reaching this run (the ending's host died), and a timeout whose timer was
    lost. Each costs one read per live child; how many wake-ups were sent."""
    world, sent = services.world, 0
    for command_id, (child_run_id, _) in children_in_log(events).items():
        child = await world.runs.get(child_run_id)
        if child is not None and child.status.is_terminal:
            sent += await deliver_child_ending(world, run_id, command_id, child_run_id)
    timeout_at = events[0].attrs.get("timeout_at") if events else None
    if timeout_at is not None and now >= float(timeout_at):
        await services.send(WorkflowMessage(run_id, workflow, TIMEOUT_WAKE, dep=deployment), 0.0)
        sent += 1
    return sent


async def reconcile(
    services: RunServices, *, stall: float | None = None, limit: int = DEFAULT_PAGE_LIMIT
) -> ReconcileSummary:
    """One reconcile pass (see the module doc); never raises for one bad run."""
    world = services.world
    stall = stall_seconds() if stall is None else stall
    cutoff = world.clock.time() - stall
    summary = ReconcileSummary()
    for status in (RunStatus.PENDING, RunStatus.RUNNING):
        page = await world.runs.list(status=status, limit=limit, updated_before=cutoff)
        for record in page.items:
            summary.checked += 1
            try:
                if await rewake(services, record.run_id, stale_after=stall):
                    summary.rewoken += 1
            except Exception as error:  # one unreadable run never stops the pass
                summary.errors += 1
                log.warning("could not re-wake run %s: %s", record.run_id, error)
    log.info("reconcile pass: %s", summary.as_dict())
    return summary
