"""Debounced starts: a burst of `start(wf.with_options(debounce="5s", key=k), ...)` becomes one
run, started once the burst has been quiet for the window, with the last start's arguments.

One coordination item per (workflow, key) (`debounce#<digest>`): `{burst, run_id, due, event}`.
The first start of a burst creates the run's record (pending, with its data key; the run id
is derived from the key and the burst number, so racing first starts make one record) and
every start of the burst replaces `event`, the run's `run_created` already sealed with the
run's key (arguments encrypted, as in the log), and pushes `due` out by the window, with one
conditional write. Each start sends a debounce message delayed by the window; the message
that finds `due` passed closes the burst, appends the stored `run_created` at position 0
(conditional: a second delivery conflicts and does nothing) and wakes the run. A message that
comes early (a later start moved `due`) is sent again for the new `due`.

The fire closes the burst before it starts the run, conditionally on the item it read, so no
start is lost to the race: a start that wrote first makes the close fail (the fire reads again
and finds a later `due`), and a start that comes after the close opens the next burst, a new
run. The closed item keeps the fired run and its `run_created` (`fired`, `event`) until the
run has been started, so a fire that dies between the close and the append is completed by
its message's redelivery or by the next burst's first start (`complete_fired`).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
from typing import Any

from ..errors import AppendConflictError, RunTerminalError
from ..world import World
from .events import Event
from .messages import DebounceMessage, WorkflowMessage
from .run_bytes import stamp

_MAX_RACES = 100


def debounce_key(workflow: str, key: str) -> str:
    return "debounce#" + hashlib.sha256(f"{workflow}|{key}".encode()).hexdigest()


def encode_event(event: Event) -> dict[str, Any]:
    return {
        "type": event.type,
        "event_id": event.event_id,
        "created_at": event.created_at,
        "attrs": dict(event.attrs),
        "payload": None if event.payload is None else base64.b64encode(event.payload).decode(),
    }


def decode_event(data: dict[str, Any]) -> Event:
    payload = data.get("payload")
    return Event(
        data["type"],
        data["event_id"],
        float(data["created_at"]),
        None,
        dict(data.get("attrs") or {}),
        None if payload is None else base64.b64decode(payload),
    )


async def fire_debounced(world: World, message: DebounceMessage, send: Any) -> None:
    """Start the burst's run if its window has passed (module docstring)."""
    for _ in range(_MAX_RACES):
        item = await world.coordination.get(message.key)
        if item is None:
            return
        state = item.data
        if state.get("fired") == message.run_id:  # closed by a delivery that then died
            await complete_fired(world, state, send)
            return
        if state.get("run_id") != message.run_id:
            return  # this burst fired, and the next burst's first start completed it
        now = world.clock.time()
        due = float(state["due"])
        if due > now:
            await send(message, min(due - now, world.queue.max_delay))
            return
        closed = {"burst": state["burst"], "fired": message.run_id, "workflow": message.workflow}
        closed["event"] = state["event"]
        if await world.coordination.put(message.key, closed, item.version + 1):
            await complete_fired(world, closed, send)
            # Best effort: a burst whose fire is complete needs no help from the next start.
            await world.coordination.put(message.key, {"burst": state["burst"]}, item.version + 2)
            return
        # A start of this burst wrote first: its arguments are the last ones, and its `due`
        # is later. Read again.
    raise RuntimeError(f"debounced run {message.run_id}: its item kept changing under starts")


async def complete_fired(world: World, closed: dict[str, Any], send: Any) -> None:
    """Append the closed burst's `run_created` and wake its run. Idempotent: the append is
    conditional on position 0 and a second wake is a message the run's log absorbs. Called by
    the firing message, by its redelivery, and by the first start of the next burst (which
    must not overwrite a closed burst its fire may not have completed)."""
    run_id, workflow = str(closed["fired"]), str(closed["workflow"])
    event = decode_event(closed["event"])
    with contextlib.suppress(AppendConflictError, RunTerminalError):  # done before
        await world.log.append(run_id, 0, stamp(run_id, [event], 0, None))
    await send(WorkflowMessage(run_id, workflow), 0.0)
