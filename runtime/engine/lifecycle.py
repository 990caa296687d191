"""Run-level writes that happen outside a workflow replay: failing or cancelling a run
(`end_run_from_outside`), delivering a hook payload (`record_hook_payload`), failing a run whose
start was interrupted (`fail_unrecorded_start`), and `apply_run_ending`: the bookkeeping every
ended run needs outside its log (status on the record, tokens freed, streams closed).

Each write reads the log, decides, and appends at the head with a conditional write; when
another writer got there first it reads again and decides again, so nothing is recorded twice
and nothing is written after the run ended.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from .. import serde
from ..errors import AppendConflictError, HookNotFoundError, RunNotFoundError, RunTerminalError
from ..world import HookOwner, World
from .codec import RunCodec, codecs_for
from .endings import announce_ending
from .events import STATUS_OF_TERMINAL_EVENT, Event, EventType
from .hook_records import hook_owners
from .links import RunLinks, links_from_log
from .locks import lock_claims, release_all
from .messages import WorkflowMessage
from .run_bytes import stamp, total_after

_NO_LIVE_HOOK = "no live hook has this token"  # never the token: it is a bearer secret
BatchBuilder = Callable[[list[Event]], Awaitable[list[Event] | None]]

APPEND_AT_HEAD_SECONDS = 30.0
"""How long a writer from outside keeps racing for the head before it gives up: many times the
pause a busy run leaves it every second."""


async def append_at_head(
    world: World, run_id: str, build: BatchBuilder, *, enforce_run_bytes: bool = True
) -> list[Event] | None:
    """Append what `build(log)` returns at the end of the log, re-reading on conflicts.

    `build` sees the whole log and returns the batch, or None when nothing is to be written
    (e.g. the run has ended). Returns the appended batch, or None. RunTooLargeError, with
    nothing written, when the batch would take the run past `max_run_bytes` and
    `enforce_run_bytes` (ending a run from outside is never refused).
    """
    log = await world.log.read(run_id)
    if not log:
        await check_not_purged(world, run_id)
    limit = world.limits.max_run_bytes if enforce_run_bytes else None
    deadline = asyncio.get_running_loop().time() + APPEND_AT_HEAD_SECONDS
    while True:
        batch = await build(log)
        if not batch:
            return None
        batch = stamp(run_id, batch, total_after(log), limit)
        try:
            await world.log.append(run_id, len(log), batch)
            return batch
        except (AppendConflictError, RunTerminalError) as lost:
            # Try again at once: a busy run (inline steps append every few ms) only leaves
            # short gaps (`WorkflowInvocation._give_way`), which a pause here would miss.
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(
                    f"run {run_id}: could not append at the head of the log for "
                    f"{APPEND_AT_HEAD_SECONDS:.0f} s: other writers won every race"
                ) from lost
            newer = lost.newer if isinstance(lost, AppendConflictError) else None
            log.extend(newer if newer is not None else await world.log.read(run_id, len(log)))
            await asyncio.sleep(0)  # let a writer in this event loop take its turn


async def check_not_purged(world: World, run_id: str) -> None:
    """Before a write at the head of an empty log: `RunNotFoundError` unless the run has a
    live record. An empty log under an ended record, or under none, is a run that retention
    purged (or is purging, runtime/engine/retention.py) or that never existed; writing there
    would bring a purged run's log back. (A live record with an empty log is a start that
    died before `run_created`: that one may be ended.) One read, only on an empty log."""
    record = await world.runs.get(run_id)
    if record is None or record.status.is_terminal:
        raise RunNotFoundError(f"no run {run_id!r} in this World (purged, or never created)")


async def apply_run_ending(
    world: World,
    run_id: str,
    terminal: Event,
    owners: list[HookOwner],
    links: RunLinks | None = None,
    locks: Sequence[tuple[str, str]] = (),
    *,
    may_have_streams: bool = True,
) -> None:
    """Apply a recorded terminal event to everything outside the log: the hook tokens freed,
    the locks and limit permits given back (`locks`: (key, holder) pairs, from
    `locks.lock_claims` or the instance), the status on the run record, then the streams
    closed. Appends nothing. Idempotent, so a redelivered message can repair a crash half-way
    through. The locks go before the status too: once `result()` returns, a new run can take
    them.

    The tokens go before the status: a caller whose `result()` returned may reuse its hook
    tokens at once, and the repair paths, which look for ended logs under a non-terminal
    record, still find an ending that crashed before its status. The streams go after it: a
    reader that sees its stream end then sees the run ended too (never `running`), and a
    crash before they are closed loses nothing, since readers also end on the run's status
    (`runtime/engine/streams.py`).

    Then the ending reaches the run's `links` (engine/links.py): children started with
    `cancel_with_parent` are cancelled, and a child's ending is recorded in its parent's log
    (`child_ended`), which wakes the parent. Both are idempotent too: a repeated ending
    cancels nothing twice and records the child's ending once.

    Only steps write streams (`get_writable()` works only inside one), so a caller that knows
    the run never created a step passes `may_have_streams=False` and the lookup of the run's
    stream names (a read on AWS) is skipped: a run with no step ends with one write."""
    for owner in owners:
        await world.hooks.release(owner)
    await release_all(world, list(locks))
    status = STATUS_OF_TERMINAL_EVENT[EventType(terminal.type)]
    await world.runs.update_status(
        run_id, status, updated_at=terminal.created_at, error_code=terminal.attrs.get("code")
    )
    if may_have_streams:
        for name in await world.streams.names(run_id):
            await world.streams.close(run_id, name)
    announce_ending(run_id, world)
    if links is not None:
        for child_run_id in links.cancel:
            await cancel_child(world, child_run_id)
        if links.parent_run_id is not None and links.parent_command is not None:
            await deliver_child_ending(
                world, links.parent_run_id, links.parent_command, run_id, terminal
            )


async def cancel_child(world: World, child_run_id: str) -> None:
    """Cancel a child whose parent ended (a no-op for one that ended, or never started)."""
    if await world.runs.get(child_run_id) is None:
        return  # its start was recorded but never made: nothing runs
    codec = await codecs_for(world).get(child_run_id)
    await end_run_from_outside(world, codec, EventType.RUN_CANCELLED)


async def deliver_child_ending(
    world: World,
    parent_run_id: str,
    command_id: str,
    child_run_id: str,
    terminal: Event | None = None,
) -> bool:
    """Record the child's ending (`terminal`, else read from its log) as `child_ended` in the
    parent's log, then wake the parent. Once per child: a repeat (a redelivered ending, the
    reconciler's backstop) finds the event recorded and does nothing. False when nothing was
    recorded (already there, or the parent has ended)."""
    if terminal is None:
        log = await world.log.read(child_run_id)
        if not log or not log[-1].is_terminal:
            return False
        terminal = log[-1]
    child_codec = await codecs_for(world).get(child_run_id)
    status = STATUS_OF_TERMINAL_EVENT[EventType(terminal.type)]
    attrs: dict[str, str] = {"child_run_id": child_run_id, "status": str(status)}
    if terminal.type == EventType.RUN_COMPLETED:
        value: dict[str, object] = {"value": await child_codec.open(terminal)}
    elif terminal.type == EventType.RUN_CANCELLED:
        attrs["code"] = "CANCELLED"
        value = {"message": "the child run was cancelled"}
    else:
        details = await child_codec.open(terminal) or {}
        attrs["code"] = str(terminal.attrs.get("code", "RUNTIME_ERROR"))
        value = {"message": str(details.get("message", ""))}
    data = serde.dumps(value)
    try:
        parent_codec = await codecs_for(world).get(parent_run_id)
    except RunNotFoundError:
        return False  # the parent ended and retention purged it: no one left to tell
    workflow_name: list[str] = []

    async def build(log: list[Event]) -> list[Event] | None:
        if not log or log[-1].is_terminal:
            return None
        workflow_name[:] = [str(log[0].attrs.get("workflow_name", ""))]
        mine = [e for e in log if e.correlation_id == command_id]
        if not any(e.type == EventType.CHILD_CREATED for e in mine) or any(
            e.type == EventType.CHILD_ENDED for e in mine
        ):
            return None
        event = await parent_codec.event(
            EventType.CHILD_ENDED, correlation_id=command_id, attrs=attrs, data=data
        )
        return [event]

    if await append_at_head(world, parent_run_id, build, enforce_run_bytes=False) is None:
        return False
    parent = await world.runs.get(parent_run_id)  # its hosts, not any (runtime/deployment.py)
    dep = parent.deployment if parent is not None else None
    message = WorkflowMessage(parent_run_id, workflow_name[0], dep=dep)
    await world.queue.send(message.body(), idempotency_key=message.idempotency_key)
    return True


async def end_run_from_outside(
    world: World,
    codec: RunCodec,
    terminal_type: EventType,
    *,
    code: str | None = None,
    message: str | None = None,
) -> bool:
    """Append `terminal_type` (failed or cancelled) with `hook_disposed` for its live hooks,
    from outside the workflow code, then apply the ending. False if the run had already ended."""

    async def build(log: list[Event]) -> list[Event] | None:
        if log and log[-1].is_terminal:
            return None
        batch = [
            await codec.event(EventType.HOOK_DISPOSED, correlation_id=owner.hook_id)
            for owner in await hook_owners(codec, log, live_only=True)
        ]
        attrs = {"code": code} if code else {}
        data = serde.dumps({"message": message}) if message is not None else None
        batch.append(await codec.event(terminal_type, attrs=attrs, data=data))
        return batch

    batch = await append_at_head(world, codec.run_id, build, enforce_run_bytes=False)
    if batch is None:
        return False
    log = await world.log.read(codec.run_id)
    owners = await hook_owners(codec, log, live_only=False)
    await apply_run_ending(
        world,
        codec.run_id,
        batch[-1],
        owners,
        links_from_log(log),
        lock_claims(codec.run_id, log),
    )
    return True


async def record_hook_payload(
    world: World,
    codec: RunCodec,
    owner: HookOwner,
    data: bytes,
    *,
    wait_seconds: float = 5.0,
    key_hash: str | None = None,
) -> None:
    """Append `hook_received` for a live hook; HookNotFoundError if it is disposed or its run
    ended. Waits briefly when the token is claimed but `hook_created` is not yet in the log.

    `key_hash` (of an idempotency key) goes into the event's attrs; when the log already has
    a `hook_received` of this hook with it, nothing is appended. The check runs inside the
    conditional append's build, so two racing deliveries of one key record one event."""
    delivered = False

    async def build(log: list[Event]) -> list[Event] | None:
        nonlocal delivered
        hook_events = [e for e in log if e.correlation_id == owner.hook_id]
        if key_hash is not None and any(
            e.type == EventType.HOOK_RECEIVED and e.attrs.get("key_hash") == key_hash
            for e in hook_events
        ):
            delivered = True  # a retry of a delivery that was recorded
            return None
        ended = bool(log) and log[-1].is_terminal
        if ended or any(e.type == EventType.HOOK_DISPOSED for e in hook_events):
            raise HookNotFoundError(_NO_LIVE_HOOK)
        if not any(e.type == EventType.HOOK_CREATED for e in hook_events):
            return None
        attrs = {"key_hash": key_hash} if key_hash is not None else None
        event = await codec.event(
            EventType.HOOK_RECEIVED, correlation_id=owner.hook_id, data=data, attrs=attrs
        )
        return [event]

    deadline = asyncio.get_running_loop().time() + wait_seconds
    while await append_at_head(world, codec.run_id, build) is None and not delivered:
        if asyncio.get_running_loop().time() > deadline:
            raise HookNotFoundError(_NO_LIVE_HOOK)
        await asyncio.sleep(0.02)


async def fail_unrecorded_start(world: World, codec: RunCodec) -> bool:
    """End a run whose record exists but whose `run_created` never made it into the log (its
    `start()` died in between and was not retried): its arguments are lost, so a re-wake can
    only fail it. Conditional on the log still being empty: False when `start()` (a retry)
    recorded the run meanwhile, which then goes on normally."""
    message = (
        "start() was interrupted before the run's arguments were recorded; start the workflow again"
    )
    attrs = {"code": "RUNTIME_ERROR"}
    await check_not_purged(world, codec.run_id)  # an empty log may be a purged run's
    failed = await codec.event(
        EventType.RUN_FAILED, attrs=attrs, data=serde.dumps({"message": message})
    )
    try:
        await world.log.append(codec.run_id, 0, stamp(codec.run_id, [failed], 0, None))
    except (AppendConflictError, RunTerminalError):
        return False
    await apply_run_ending(world, codec.run_id, failed, [])
    return True
