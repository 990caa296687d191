"""Firing, pausing and resuming schedules (runtime/schedules.py) in one World.

Every place a fire arrives calls `fire()`: the emulator's timer, the Lambda handler given an
EventBridge Scheduler event, `steplane schedules trigger`. A fire starts the run with the
idempotency key `schedule:<name>:<fire time>`, so a duplicate fire starts nothing new.
"""

from __future__ import annotations

from .client import Client
from .definitions import StartOptions
from .runs import Run
from .schedules import Schedule, registered_schedules, schedule_key
from .world import World


def find_schedule(name: str) -> Schedule:
    for known in registered_schedules():
        if known.name == name:
            return known
    raise LookupError(f"no schedule {name!r}: import the module that defines the workflow")


async def is_paused(world: World, name: str) -> bool:
    item = await world.coordination.get(schedule_key(name))
    return bool(item and item.data.get("paused"))


async def set_paused(world: World, name: str, paused: bool) -> None:
    """Pause or resume a schedule: a flag every fire checks (compare-and-set)."""
    find_schedule(name)
    for _ in range(100):
        item = await world.coordination.get(schedule_key(name))
        data = dict(item.data) if item else {}
        data["paused"] = paused
        if await world.coordination.put(
            schedule_key(name), data, (item.version if item else 0) + 1
        ):
            return
    raise RuntimeError(f"schedule {name!r}: its item kept changing")


async def fire(world: World, schedule: Schedule, at: float, *, manual: bool = False) -> Run | None:
    """Start the run for the fire at `at` (None while paused, unless `manual`)."""
    if not manual and await is_paused(world, schedule.name):
        return None
    kind = "manual" if manual else "at"
    key = f"schedule:{schedule.name}:{kind}:{at:.3f}"
    return await Client(world).start(StartOptions(schedule.workflow, idempotency_key=key))
