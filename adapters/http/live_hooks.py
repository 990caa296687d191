"""Live hooks, read from the logs of running runs: what the web UI's Hooks page lists and what
its resume form delivers to.

A hook is live from its `hook_created` until its `hook_disposed` (or a `hook_conflict`: it
never held its token). Its token is a bearer secret (docs/invariants.md #9): it is opened here
only to name it by the registry's fingerprint (`tok_...`, the name conflict errors use) or to
deliver a payload, and it never leaves this module.
"""

from __future__ import annotations

import inspect
from typing import Any

from steplane.runtime.context import utc
from steplane.runtime.engine.codec import codecs_for
from steplane.runtime.engine.events import Event, EventType, RunStatus
from steplane.runtime.world import World, token_fingerprint

MAX_RUNS = 200
"""Running runs looked at per listing: a dev tool's page, not an index of the fleet."""


def live_hook_events(log: list[Event]) -> list[Event]:
    """The `hook_created` events of the hooks still live at the end of `log`."""
    ended = {
        e.correlation_id
        for e in log
        if e.type in (EventType.HOOK_DISPOSED, EventType.HOOK_CONFLICT)
    }
    if log and log[-1].is_terminal:
        return []
    return [e for e in log if e.type == EventType.HOOK_CREATED and e.correlation_id not in ended]


async def fingerprint(world: World, token: str) -> str | None:
    """The registry's name for `token` (None for a registry that cannot make one)."""
    digest = getattr(world.hooks, "digest", None)
    if digest is None:
        return None
    value = digest(token)
    if inspect.isawaitable(value):
        value = await value
    return token_fingerprint(str(value))


async def run_hooks(world: World, run_id: str, workflow: str) -> list[dict[str, Any]]:
    """The live hooks of one run, oldest first."""
    log = await world.log.read(run_id)
    created = live_hook_events(log)
    if not created:
        return []
    codec = await codecs_for(world).get(run_id)
    hooks = []
    for event in created:
        data = await codec.open(event)
        token = data.get("token") if isinstance(data, dict) else None
        received = sum(
            e.type == EventType.HOOK_RECEIVED and e.correlation_id == event.correlation_id
            for e in log
        )
        hooks.append(
            {
                "run_id": run_id,
                "workflow": workflow,
                "hook_id": event.correlation_id,
                "token_fingerprint": None if token is None else await fingerprint(world, token),
                "created_at": utc(event.created_at).isoformat(),
                "received": received,
            }
        )
    return hooks


async def live_hooks(world: World, run_id: str | None = None) -> list[dict[str, Any]]:
    """Live hooks of running runs (or of `run_id` only), newest run first."""
    if run_id is not None:
        record = await world.runs.get(run_id)
        records = [] if record is None else [record]
    else:
        records, cursor = [], None
        while len(records) < MAX_RUNS:
            page = await world.runs.list(status=RunStatus.RUNNING, limit=50, cursor=cursor)
            records += page.items
            cursor = page.next_cursor
            if cursor is None:
                break
    found: list[dict[str, Any]] = []
    for record in records[:MAX_RUNS]:
        found += await run_hooks(world, record.run_id, record.workflow_name)
    return found


async def live_token(world: World, run_id: str, hook_id: str) -> str | None:
    """The token of the run's live hook `hook_id` (None: no such live hook)."""
    log = await world.log.read(run_id)
    for event in live_hook_events(log):
        if event.correlation_id == hook_id:
            data = await (await codecs_for(world).get(run_id)).open(event)
            token = data.get("token") if isinstance(data, dict) else None
            return token if isinstance(token, str) else None
    return None
