"""A workflow invocation's side of locks and limits (the lock state itself: engine/locks.py).

A run asks for a lock with `lock_requested` and holds it from `lock_acquired`, recorded in the
same write when a permit is free. A run that has to wait is woken by the holder's hand-off, or
by its own re-check when the earliest lease ends; either way the next invocation looks the
lock up once and records `lock_acquired` if the permit is now its own."""

from __future__ import annotations

from collections.abc import Iterable

from ..world import World
from . import locks
from .codec import RunCodec
from .events import Event, EventType
from .instance import LockCommand
from .messages import WorkflowMessage
from .recovery import Outbox
from .services import WorkflowServices


class LockRequests:
    """One invocation's lock requests for one run."""

    def __init__(
        self, services: WorkflowServices, codec: RunCodec, run_id: str, workflow: str
    ) -> None:
        self.services = services
        self.world: World = services.world
        self.codec = codec
        self.run_id = run_id
        self.workflow = workflow
        self.checked: set[str] = set()  # waiting locks looked up in this invocation

    async def request(self, command: LockCommand, now: float, outbox: Outbox) -> list[Event]:
        """`lock_requested`, and `lock_acquired` too when a permit is free (one write)."""
        attrs: dict[str, object] = {"key": command.key, "max": command.max, "order": command.order}
        if command.lease is not None:
            attrs["lease"] = command.lease
        cid = command.command_id
        events = [await self.codec.event(EventType.LOCK_REQUESTED, correlation_id=cid, attrs=attrs)]
        grant = await self._acquire(command)
        self.checked.add(cid)
        if grant.granted:
            events.append(await self._acquired(command, grant))
        elif grant.recheck_at is not None:
            outbox.append(self._recheck(command, grant, now))
        return events

    async def granted(self, waiting: Iterable[LockCommand], wake: str | None) -> list[Event]:
        """`lock_acquired` for the locks this run waits for and now holds: a hand-off woke it,
        or its re-check (the message's `wake`) found the holder's lease over. Each waiting lock
        is looked up once per invocation (the wake of a later hand-off is a new invocation)."""
        events = []
        for command in waiting:
            if command.command_id in self.checked:
                continue
            self.checked.add(command.command_id)
            grant = await self._acquire(command)
            if grant.granted:
                events.append(await self._acquired(command, grant))
            elif grant.recheck_at is not None and wake == command.command_id:
                now = self.world.clock.time()
                await self.services.send(*self._recheck(command, grant, now))
        return events

    async def _acquire(self, command: LockCommand) -> locks.Grant:
        wake = WorkflowMessage(self.run_id, self.workflow).body()
        grant = await locks.acquire(
            self.world,
            command.key,
            command.holder,
            max_holders=command.max,
            lease=command.lease,
            wake=wake,
            order=command.order,
        )
        await locks.send_wakes(self.world, grant.woken)
        return grant

    async def _acquired(self, command: LockCommand, grant: locks.Grant) -> Event:
        attrs: dict[str, object] = {"fence": grant.fence}
        if grant.until is not None:
            attrs["until"] = grant.until
        return await self.codec.event(
            EventType.LOCK_ACQUIRED, correlation_id=command.command_id, attrs=attrs
        )

    def _recheck(
        self, command: LockCommand, grant: locks.Grant, now: float
    ) -> tuple[WorkflowMessage, float]:
        """A waiter's own look at the lock when the earliest lease ends: a holder that stops
        making progress loses the lock then, even if nobody else touches it."""
        assert grant.recheck_at is not None
        message = WorkflowMessage(self.run_id, self.workflow, command.command_id)
        return message, max(0.0, min(grant.recheck_at - now, self.world.queue.max_delay))
