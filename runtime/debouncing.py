"""`start(wf.with_options(debounce="5s", key=k), ...)`: the start side of a debounced run
(the design, and the firing side: runtime/engine/debounce.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .definitions import WorkflowDef
from .engine.codec import codecs_for
from .engine.debounce import complete_fired, debounce_key, encode_event
from .engine.events import EventType, RunStatus
from .engine.idempotency import run_id_for_key
from .engine.messages import DebounceMessage
from .world import RunRecord, World

_MAX_RACES = 100


def sender(world: World) -> Callable[[Any, float], Awaitable[None]]:
    """`send` for `complete_fired`, outside a host: straight to the World's queue."""

    async def send(message: Any, delay: float) -> None:
        await world.queue.send(message.body(), delay=delay, idempotency_key=message.idempotency_key)

    return send


async def start_debounced(
    world: World,
    definition: WorkflowDef,
    key: str,
    window: float,
    data: bytes,
    parent_run_id: str | None,
) -> str:
    """Join (or open) the burst of `key`; its run id. `data`: the call's serialized arguments."""
    item_key = debounce_key(definition.name, key)
    codecs = codecs_for(world)
    for _ in range(_MAX_RACES):
        item = await world.coordination.get(item_key)
        state = item.data if item is not None else {"burst": 0}
        now = world.clock.time()
        if state.get("fired"):  # the last burst's fire may have died before starting its run
            await complete_fired(world, state, sender(world))
        if state.get("run_id"):
            run_id, burst = str(state["run_id"]), int(state["burst"])
            codec = await codecs.get(run_id)
        else:
            burst = int(state["burst"]) + 1
            run_id = run_id_for_key(definition.name, f"debounce:{key}:{burst}")
            if await world.runs.get(run_id) is None:
                codec, encrypted = await codecs.create(run_id)
                record = RunRecord(
                    run_id, definition.name, RunStatus.PENDING, now, now, parent_run_id, encrypted
                )
                try:
                    await world.runs.create(record)
                except ValueError:  # a racing first start made it: use the winner's key
                    codecs.forget(run_id)
                    codec = await codecs.get(run_id)
            else:
                codec = await codecs.get(run_id)
        attrs = {"workflow_name": definition.name, "parent_run_id": parent_run_id}
        created = await codec.event(EventType.RUN_CREATED, attrs=attrs, data=data, created_at=now)
        new: dict[str, Any] = {
            "burst": burst,
            "run_id": run_id,
            "due": now + window,
            "event": encode_event(created),
        }
        if await world.coordination.put(item_key, new, (item.version if item else 0) + 1):
            message = DebounceMessage(run_id, definition.name, item_key)
            await world.queue.send(message.body(), delay=min(window, world.queue.max_delay))
            return run_id
    raise RuntimeError(f"debounce key {key!r}: its item kept changing under racing starts")
