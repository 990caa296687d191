"""How a workflow invocation ends a run: the batch that records the ending, the bookkeeping
after it is written, and the repair a later message makes when that bookkeeping may not have
happened (the invocation died between the write and the run's status).

The ending batch keeps what the run did just before it returned (attributes it set, children
it started) and disposes of its live hooks; its last event is `run_completed`, or `run_failed`
when the result cannot be stored (not serializable, too large for the payload or the run
limit) or the workflow raised."""

from __future__ import annotations

from .. import serde
from ..errors import ErrorCode, StepInvocationError
from ..world import HookOwner, World
from . import locks
from .codec import RunCodec
from .command_records import CommandRecorder
from .events import Event, EventType
from .hook_records import hook_owners
from .instance import (
    AttributesCommand,
    ChildCommand,
    HookCommand,
    Outcome,
    StepCommand,
    WorkflowInstance,
)
from .lifecycle import apply_run_ending, deliver_child_ending
from .links import RunLinks, links_from_log, parent_of
from .run_bytes import budget_after
from .starting import start_children


async def ending_batch(
    world: World,
    instance: WorkflowInstance,
    recorder: CommandRecorder,
    outcome: Outcome,
    code: ErrorCode = ErrorCode.USER_ERROR,
    message: str = "",
) -> list[Event]:
    """The events that end the run with `outcome` (`code` and `message` for a failure the
    host decided on). Starts with `run_started` when the run never wrote it: the status
    follows the ending at once, so the `running` write is skipped."""
    codec = recorder.codec
    batch = [] if instance.started else [await codec.event(EventType.RUN_STARTED)]
    budget = [world.limits.max_batch_bytes]
    for command in instance.new_commands():  # kept: what the run did before it ended
        if isinstance(command, AttributesCommand | ChildCommand):
            batch.append(await recorder.record(command, 0.0, [], budget))
    for hook in instance.live_hooks():
        batch.append(await codec.event(EventType.HOOK_DISPOSED, correlation_id=hook.hook_id))
    if outcome.ok:
        try:
            data = serde.dumps(outcome.value, what="result")
            serde.check_size(data, world.limits.max_payload_bytes, "workflow result")
            room = budget_after(
                recorder.run_id, batch, instance.run_bytes, world.limits.max_run_bytes
            )
            room.check(data, "the workflow result")
            batch.append(await codec.event(EventType.RUN_COMPLETED, data=data))
            return batch
        except serde.SerializationError as error:
            message = f"{type(error).__name__}: {error}"
    elif outcome.error is not None:
        message = f"{type(outcome.error).__name__}: {outcome.error}"
        error = outcome.error
        if isinstance(error, StepInvocationError) and error.type_name in ErrorCode.__members__:
            code = ErrorCode(error.type_name)  # the host's reason, not the user's
    data = serde.dumps({"message": message})
    batch.append(await codec.event(EventType.RUN_FAILED, attrs={"code": str(code)}, data=data))
    return batch


async def after_ending(world: World, run_id: str, instance: WorkflowInstance) -> None:
    """What follows a recorded ending this invocation wrote: the children it recorded in the
    ending batch started (then ended with it, if so asked), and `apply_run_ending`."""
    assert instance.terminal is not None
    owners = [
        HookOwner(c.hook.token, run_id, c.command_id)
        for c in instance.commands.values()
        if isinstance(c, HookCommand) and c.hook is not None
    ]
    if instance.children():
        await start_children(world, run_id, instance.children())
    parent, command = parent_of(instance.created_attrs)
    cancel = [
        c.child_run_id
        for c in instance.children()
        if c.recorded and not c.ended and c.on_parent_end == "cancel"
    ]
    steps = any(isinstance(c, StepCommand) for c in instance.commands.values())
    await apply_run_ending(
        world,
        run_id,
        instance.terminal,
        owners,
        RunLinks(parent, command, cancel),
        instance.lock_claims(),
        may_have_streams=steps,
    )


async def repair_ending(
    world: World,
    codec: RunCodec,
    instance: WorkflowInstance,
    claimed: list[HookOwner],
    receive_count: int,
) -> None:
    """A message for an ended run: make sure the ending's bookkeeping happened. `claimed`:
    the hook tokens this invocation claimed for hooks the run ended before recording."""
    run_id = codec.run_id
    for owner in claimed:
        await world.hooks.release(owner)
    record = await world.runs.get(run_id)
    if record is not None and not record.status.is_terminal:
        log = await world.log.read(run_id)
        owners = await hook_owners(codec, log, live_only=False)
        claims = locks.lock_claims(run_id, log)
        await apply_run_ending(world, run_id, log[-1], owners, links_from_log(log), claims)
    elif receive_count > 1 and instance.terminal is not None:
        # The previous delivery may have died after the status, before the parent heard.
        parent, command = parent_of(instance.created_attrs)
        if parent is not None and command is not None:
            await deliver_child_ending(world, parent, command, run_id, instance.terminal)
