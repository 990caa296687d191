"""Starting a run: the record, `run_created`, the first message, and a timeout's timer.

One function for every way a run starts: `start()` from outside (runtime/client.py), a child
run started from workflow code (`start_child`, engine/workflow_invocation.py) and a fork
(engine/fork.py). With an idempotency key (or a derived run id) a start can be repeated any
number of times and addresses the same run: the record's creation is a conditional write, and a
repeat finishes whatever an interrupted start left undone (record written, `run_created` or
the first message not).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from ..errors import AppendConflictError
from ..world import RunRecord, World
from .codec import RunCodec, codecs_for
from .events import Event, EventType, RunStatus
from .instance import ChildCommand
from .messages import WorkflowMessage, wake_message, with_deployment
from .run_bytes import RunBudget, stamp, total_after
from .tracing import run_span, run_traces

TIMEOUT_WAKE = "timeout"
"""The `wake` of the delayed workflow message that ends a run past its timeout."""


@dataclass
class StartRequest:
    """What a start records. `run_id` is fresh for a plain start, derived for a repeatable
    one (`repeatable=True`: an idempotency key, a child command); a fork's id is fresh."""

    run_id: str
    workflow_name: str
    data: bytes
    """The serialized call: {args, kwargs}."""
    now: float
    repeatable: bool = False
    parent_run_id: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    """Extra `run_created` attributes (parent command, timeout, fork origin)."""
    deployment: str | None = None
    """The deployment the run is pinned to (runtime/deployment.py); None: the first host that
    runs it pins it."""


async def start_run(world: World, request: StartRequest, copy_events: Any = None) -> bool:
    """Create the run (or finish an interrupted start of it) and send its first message.

    Returns False when the run already existed and had left `pending` (nothing was done).
    A fresh run (not `repeatable`) is recorded with `World.create_run`: its record and
    `run_created` in one call where the World can. `copy_events(codec)`, if given (a fork,
    whose id is fresh), returns the events to record right after `run_created`."""
    run_id = request.run_id
    RunBudget(run_id, 0, world.limits.max_run_bytes).check(request.data, "the arguments")
    codecs = codecs_for(world)
    record = await world.runs.get(run_id) if request.repeatable else None
    codec: RunCodec
    deployment = request.deployment
    if record is None:
        codec, encrypted_key = await codecs.create(run_id)
        fresh = RunRecord(
            run_id,
            request.workflow_name,
            RunStatus.PENDING,
            request.now,
            request.now,
            request.parent_run_id,
            encrypted_key,
            deployment=request.deployment,
        )
        if not request.repeatable:  # a fresh id is ours alone: record and log in one write
            created, trace = await _run_created(request, codec, deployment)
            await world.create_run(fresh, stamp(run_id, [created], 0, None))
            if copy_events is not None:  # a fork: nobody else writes before its wake
                await _append_all(world, run_id, [created], await copy_events(codec))
            await send_first_messages(
                world, run_id, request.workflow_name, request.attrs, trace, deployment
            )
            return True
        try:  # conditional: exactly one of racing starts with one id creates the run
            await world.runs.create(fresh)
        except ValueError:
            codecs.forget(run_id)  # our fresh key lost: the winner's is on the record
            record = await world.runs.get(run_id)
    if record is not None:  # a repeat: finish whatever the first start left undone
        if record.workflow_name != request.workflow_name:
            raise ValueError(f"run {run_id} belongs to workflow {record.workflow_name!r}")
        if record.status != RunStatus.PENDING:
            return False
        codec = await codecs.get(run_id)
        deployment = record.deployment
    trace = None
    if record is None or not await world.log.read(run_id):
        created, trace = await _run_created(request, codec, deployment)
        with contextlib.suppress(AppendConflictError):  # a racing start recorded it first
            await world.log.append(run_id, 0, stamp(run_id, [created], 0, None))
    if trace is None:  # a repeated start: the trace its first start recorded, if any
        trace = await run_traces(world).of(world, run_id)
    await send_first_messages(
        world, run_id, request.workflow_name, request.attrs, trace, deployment
    )
    return True


async def _run_created(
    request: StartRequest, codec: RunCodec, deployment: str | None
) -> tuple[Event, str | None]:
    """The run's `run_created` event and its trace context (None unless tracing is on)."""
    attrs = {
        "workflow_name": request.workflow_name,
        "parent_run_id": request.parent_run_id,
        **request.attrs,
    }
    if deployment is not None:
        attrs["deployment"] = deployment
    trace = run_span(request.run_id, request.workflow_name)
    if trace is not None:
        attrs["trace"] = trace
    created = await codec.event(
        EventType.RUN_CREATED, attrs=attrs, data=request.data, created_at=request.now
    )
    return created, trace


async def _append_all(world: World, run_id: str, log: list[Event], events: list[Event]) -> None:
    """Append `events` after `log` in batches that fit the World's batch size."""
    limit = world.limits.max_batch_bytes // 2
    while events:
        size, count = 0, 0
        while count < len(events) and count < 100 and (count == 0 or size < limit):
            size += len(events[count].payload or b"") + 256
            count += 1
        batch = stamp(run_id, events[:count], total_after(log), None)
        await world.log.append(run_id, len(log), batch)
        log, events = log + batch, events[count:]


async def start_children(world: World, parent_run_id: str, children: list[ChildCommand]) -> None:
    """Start every recorded child of the parent that this process has not yet started or
    found: right after recording it, and on any later invocation, so a host that died in
    between (or a start that failed) is repaired by the next one. The child's run id is
    derived and its start is idempotent: however often this runs, one child run exists."""
    deployment: str | None = None
    parent_read = False
    for child in children:
        if not child.recorded or child.confirmed or child.ended:
            continue
        if not parent_read:  # children run on their parent's deployment
            parent = await world.runs.get(parent_run_id)
            deployment = parent.deployment if parent is not None else None
            parent_read = True
        now = world.clock.time()
        attrs: dict[str, Any] = {
            "parent_command": child.command_id,
            "on_parent_end": child.on_parent_end,
        }
        if child.timeout is not None:  # a repeated start keeps the first one's deadline
            attrs["timeout_at"] = now + child.timeout
        request = StartRequest(
            child.child_run_id,
            child.workflow_name,
            child.args_data,
            now,
            repeatable=True,
            parent_run_id=parent_run_id,
            attrs=attrs,
            deployment=deployment,
        )
        await start_run(world, request)
        child.confirmed = True


async def send_first_messages(
    world: World,
    run_id: str,
    workflow_name: str,
    attrs: dict[str, Any],
    trace: str | None = None,
    deployment: str | None = None,
) -> None:
    """The workflow invocation that picks the run up, to the hosts of its deployment (carrying
    the run's trace context, engine/tracing.py, when there is one), and its timeout's timer,
    if any."""
    message = WorkflowMessage(run_id, workflow_name, trace=trace, dep=deployment)
    await world.queue.send(message.body(), idempotency_key=message.idempotency_key)
    timeout_at = attrs.get("timeout_at")
    if timeout_at is not None:
        await send_timeout_wake(world, run_id, workflow_name, float(timeout_at), deployment)


async def send_timeout_wake(
    world: World, run_id: str, workflow_name: str, due: float, deployment: str | None = None
) -> None:
    """A delayed workflow message (chained through timer hops past the queue's longest delay,
    engine/messages.py) that fails the run if it has not ended by `due`."""
    message, delay = wake_message(
        run_id, workflow_name, TIMEOUT_WAKE, due, world.clock.time(), world.queue.max_delay
    )
    message = with_deployment(message, deployment)
    await world.queue.send(message.body(), delay=delay, idempotency_key=message.idempotency_key)
