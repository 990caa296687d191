"""Debounced starts: a burst of `start(wf.with_options(debounce="5s", key=k), ...)` becomes one
run, started once the burst has been quiet for the window, with the last start's arguments.

One coordination item per (workflow, key) (`debounce#<digest>`): `{burst, run_id, due, event}`.
The first start of a burst creates the run's record (pending, with its data key; the run id
is derived from the key and the burst number, so racing first starts make one record) and
every start of the burst replaces `event`, the run's `run_created` already sealed with the
run's key (arguments encrypted, as in the log), and pushes `due` out by the window, with one
conditional write. Each start sends a debounce message delayed by the window; the message
that finds `due` passed appends the stored `run_created` at position 0 (conditional: a second
delivery conflicts and does nothing), closes the burst, and wakes the run. A message that
comes early (a later start moved `due`) is sent again for the new `due`.

A start that races the fire itself may join the run just started without its arguments being
used (the window is closing at that instant); every start of a burst returns the same run.
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
    item = await world.coordination.get(message.key)
    if item is None or item.data.get("run_id") != message.run_id:
        return  # this burst already fired (a duplicate message)
    now = world.clock.time()
    due = float(item.data["due"])
    if due > now:
        await send(message, min(due - now, world.queue.max_delay))
        return
    event = decode_event(item.data["event"])
    with contextlib.suppress(AppendConflictError, RunTerminalError):  # an earlier delivery's
        await world.log.append(message.run_id, 0, stamp(message.run_id, [event], 0, None))
    for _ in range(100):  # close the burst; a start racing us may have written meanwhile
        if item is None or item.data.get("run_id") != message.run_id:
            break
        if await world.coordination.put(
            message.key, {"burst": item.data["burst"]}, item.version + 1
        ):
            break
        item = await world.coordination.get(message.key)
    await send(WorkflowMessage(message.run_id, message.workflow), 0.0)
