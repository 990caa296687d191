"""What a workflow's new commands become in its log: one event each, and what must happen
before that event is written (a hook's token claimed, a lock released, a wait's wake-up put
in the outbox). The workflow invocation decides which commands go into a batch; this module
says what each one is recorded as."""

from __future__ import annotations

from .. import serde
from ..errors import HookConflictError
from ..world import HookOwner, World
from . import locks
from .codec import RunCodec
from .events import Event, EventType
from .hook_records import hook_created_data
from .instance import (
    AttributesCommand,
    ChildCommand,
    Command,
    HookCommand,
    HookDisposal,
    LockRelease,
    StepCommand,
    WaitCommand,
)
from .messages import TimerMessage, WorkflowMessage, wake_message
from .recovery import Outbox


class CommandRecorder:
    """Records one run's commands. Remembers the hook tokens it claimed (`claimed`): a run that
    ends before the claim's event is recorded must give them back (`repair_ended_run`)."""

    def __init__(self, world: World, codec: RunCodec, run_id: str, workflow: str) -> None:
        self.world = world
        self.codec = codec
        self.run_id = run_id
        self.workflow = workflow
        self.claimed: list[HookOwner] = []

    async def record(
        self, command: Command, now: float, outbox: Outbox, budget: list[int]
    ) -> Event:
        """The event that records `command`; `budget` is what is left of the batch's room for
        values kept inline (shared by every event of the batch)."""
        cid = command.command_id
        codec = self.codec
        if isinstance(command, StepCommand):
            assert command.step is not None
            return await codec.event(
                EventType.STEP_CREATED,
                correlation_id=cid,
                attrs={"step_name": command.step.name},
                data=command.args_data,
                inline_budget=budget,
            )
        if isinstance(command, WaitCommand):
            if command.resume_at > now:
                outbox.append(self.wake_message(cid, command.resume_at, now))
            return await codec.event(
                EventType.WAIT_CREATED, correlation_id=cid, attrs={"resume_at": command.resume_at}
            )
        if isinstance(command, HookCommand):
            return await self._hook_created(command, now, budget)
        if isinstance(command, ChildCommand):
            attrs = {
                "workflow_name": command.workflow_name,
                "child_run_id": command.child_run_id,
                "on_parent_end": command.on_parent_end,
            }
            return await codec.event(
                EventType.CHILD_CREATED,
                correlation_id=cid,
                attrs=attrs,
                data=command.args_data,
                inline_budget=budget,
            )
        if isinstance(command, AttributesCommand):
            return await codec.event(
                EventType.ATTRIBUTES_SET,
                correlation_id=cid,
                attrs={"attributes": command.attributes},
            )
        if isinstance(command, LockRelease):
            assert command.lock is not None
            woken = await locks.release(self.world, command.lock.key, command.lock.holder)
            await locks.send_wakes(self.world, woken)
            return await codec.event(EventType.LOCK_RELEASED, correlation_id=cid)
        assert isinstance(command, HookDisposal)
        return await codec.event(EventType.HOOK_DISPOSED, correlation_id=cid)

    async def _hook_created(self, command: HookCommand, now: float, budget: list[int]) -> Event:
        """`hook_created` once the token is this run's, `hook_conflict` when another holds it."""
        assert command.hook is not None
        cid = command.command_id
        owner = HookOwner(command.hook.token, self.run_id, cid, created_at=now)
        try:
            await self.world.hooks.claim(owner)
            self.claimed.append(owner)
        except HookConflictError as conflict:
            return await self.codec.event(
                EventType.HOOK_CONFLICT, correlation_id=cid, attrs={"message": str(conflict)}
            )
        data = serde.dumps(hook_created_data(command.hook))
        return await self.codec.event(
            EventType.HOOK_CREATED, correlation_id=cid, data=data, inline_budget=budget
        )

    def wake_message(
        self, wait_id: str, due: float, now: float
    ) -> tuple[WorkflowMessage | TimerMessage, float]:
        """A wait's wake-up; a long one goes through timer hops that never load the run."""
        args = (self.run_id, self.workflow, wait_id, due, now)
        return wake_message(*args, self.world.queue.max_delay)
