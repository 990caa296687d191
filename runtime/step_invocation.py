"""One queued step attempt: find the step in the log, run it, record the outcome, hand back.

Safe under at-least-once delivery: a step already finished only re-sends the workflow's
continuation; a duplicate attempt racing another loses the conditional append, sees the
winner's outcome, and records nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .context import WorkflowMetadata
from .errors import AppendConflictError, InvalidMessageError, RunTerminalError
from .events import Event, EventType
from .messages import StepMessage, WorkflowMessage
from .registry import StepDef, get_step
from .step_runner import run_attempt

if TYPE_CHECKING:
    from .host import FunctionHost


@dataclass
class StepState:
    """What the log says about one step, read from its `step_created` event onward."""

    created: Event | None = None
    attempts: int = 0
    retry_at: float | None = None
    finished: bool = False
    run_ended: bool = False
    head: int = 0

    def feed(self, events: list[Event], step_id: str) -> None:
        for event in events:
            self.head = event.seq + 1
            if event.is_terminal:
                self.run_ended = True
            if event.correlation_id != step_id:
                continue
            if event.type == EventType.STEP_CREATED:
                self.created = event
            elif event.type == EventType.STEP_STARTED:
                self.attempts += 1
            elif event.type == EventType.STEP_RETRYING:
                self.retry_at = float(event.attrs["retry_at"])
            elif event.type in (EventType.STEP_COMPLETED, EventType.STEP_FAILED):
                self.finished = True


async def run_step_message(host: FunctionHost, message: StepMessage) -> None:
    step = get_step(message.step)
    world = host.world
    state = StepState()
    state.feed(await world.log.read(message.run_id, message.hint), message.step_id)
    if state.created is None and message.hint:
        state = StepState()
        state.feed(await world.log.read(message.run_id), message.step_id)
    if state.created is None:
        raise InvalidMessageError(f"run {message.run_id} has no step {message.step_id}")
    if state.run_ended:
        return
    workflow = await host.workflow_metadata(message.run_id)
    if state.finished:
        await host.send(WorkflowMessage(message.run_id, workflow.workflow_name), 0.0)
        return
    now = world.clock.time()
    if state.retry_at is not None and now < state.retry_at:
        early = StepMessage(
            message.run_id, message.step_id, step.name, message.hint, state.attempts + 1
        )
        await host.send(early, min(state.retry_at - now, world.queue.max_delay))
        return
    await _attempt(host, message, step, state, workflow)


async def _attempt(
    host: FunctionHost,
    message: StepMessage,
    step: StepDef,
    state: StepState,
    workflow: WorkflowMetadata,
) -> None:
    world = host.world
    codec = await host.codecs.get(message.run_id)
    assert state.created is not None
    attempt = state.attempts + 1
    outcome = await run_attempt(
        step,
        await codec.open(state.created),
        step_id=message.step_id,
        attempt=attempt,
        workflow=workflow,
        clock_time=world.clock.time,
        open_writer=host.writer_opener(codec),
        max_payload_bytes=world.limits.max_payload_bytes,
    )
    batch = await outcome.events(codec, message.step_id, step.name)
    while True:
        try:
            await world.log.append(message.run_id, state.head, batch)
            break
        except (AppendConflictError, RunTerminalError):
            state.feed(await world.log.read(message.run_id, state.head), message.step_id)
            if state.finished or state.run_ended or state.attempts >= attempt:
                return  # another attempt got there first; its outcome stands
    if outcome.finished:
        await host.send(WorkflowMessage(message.run_id, workflow.workflow_name), 0.0)
    else:
        assert outcome.retry_at is not None
        retry = StepMessage(message.run_id, message.step_id, step.name, message.hint, attempt + 1)
        await host.send(
            retry, max(0.0, min(outcome.retry_at - world.clock.time(), world.queue.max_delay))
        )
