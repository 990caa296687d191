"""Starting runs and looking at them: `start`, `get_run`, `Run`, `resume_hook`.

These talk to the current World directly; the work itself happens in function-host
invocations triggered by the queue messages they send.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from . import serde
from .config import get_world
from .context import current_instance, current_step, utc
from .definitions import StartOptions
from .engine.codec import codecs_for
from .engine.events import Event, EventType, RunStatus
from .engine.idempotency import key_hash, run_id_for_key
from .engine.lifecycle import end_run_from_outside, record_hook_payload
from .engine.messages import WorkflowMessage
from .errors import (
    AppendConflictError,
    CorruptedDataError,
    HookNotFoundError,
    RunNotFoundError,
    WorkflowFailedError,
)
from .ids import new_id
from .registry import workflow_def_of
from .streams import read_stream, stream_name
from .world import RunRecord, World

_POLL_START = 0.002
_POLL_MAX = 0.1


async def start(workflow: Any, /, *args: Any, **kwargs: Any) -> Run:
    """Start a run of `workflow` with these arguments; returns at once with its `Run`.

    `start(wf.with_options(idempotency_key=k), ...)` returns the same run for the same key,
    however often it is retried; a retry also finishes a start that was interrupted (record
    written, first message not sent). A retry's arguments are ignored once the first start
    recorded its own (as Stripe does: the original request wins)."""
    definition = workflow_def_of(workflow)
    key = workflow.idempotency_key if isinstance(workflow, StartOptions) else None
    if current_instance() is not None:
        raise RuntimeError("start() cannot be called from workflow code; call it from a @step")
    definition.check_arguments(args, kwargs)
    world = get_world()
    data = serde.dumps_call(args, kwargs)
    serde.check_size(
        data, world.limits.max_payload_bytes, f"arguments of workflow {definition.name!r}"
    )
    step = current_step()
    parent_run_id = step.metadata.run_id if step is not None else None
    now = world.clock.time()
    run_id = new_id("run", now) if key is None else run_id_for_key(definition.name, key)
    codecs = codecs_for(world)
    record = None if key is None else await world.runs.get(run_id)
    if record is None:
        codec, encrypted_key = await codecs.create(run_id)
        try:  # conditional: exactly one of racing starts with one key creates the run
            await world.runs.create(
                RunRecord(
                    run_id,
                    definition.name,
                    RunStatus.PENDING,
                    now,
                    now,
                    parent_run_id,
                    encrypted_key,
                )
            )
        except ValueError:
            if key is None:
                raise
            codecs.forget(run_id)  # our fresh key lost: the winner's is on the record
            record = await world.runs.get(run_id)
    if record is not None:  # a retry: finish whatever the first start left undone
        if record.workflow_name != definition.name:
            raise ValueError(f"run {run_id} belongs to workflow {record.workflow_name!r}")
        if record.status != RunStatus.PENDING:
            return Run(run_id, world)
        codec = await codecs.get(run_id)
    if record is None or not await world.log.read(run_id):
        attrs = {"workflow_name": definition.name, "parent_run_id": parent_run_id}
        created = await codec.event(EventType.RUN_CREATED, attrs=attrs, data=data, created_at=now)
        try:
            await world.log.append(run_id, 0, [created])
        except AppendConflictError:
            if key is None:
                raise  # a fresh run id is ours alone
    message = WorkflowMessage(run_id, definition.name)
    await world.queue.send(message.body(), idempotency_key=message.idempotency_key)
    return Run(run_id, world)


def get_run(run_id: str) -> Run:
    """A handle on an existing run (checked lazily: methods raise RunNotFoundError)."""
    return Run(run_id, get_world())


async def resume_hook(token: str, payload: Any = None, idempotency_key: str | None = None) -> str:
    """Deliver `payload` to the live hook holding `token`; returns the hook's run id.

    With `idempotency_key`, a payload is delivered once per key: a retry after a failure (or
    a timeout that hid a success) returns the run id without delivering it again."""
    world = get_world()
    if idempotency_key is not None and (
        not isinstance(idempotency_key, str) or not idempotency_key
    ):
        raise ValueError(f"idempotency_key must be a non-empty string, got {idempotency_key!r}")
    data = serde.dumps(payload, what="payload")
    serde.check_size(data, world.limits.max_payload_bytes, "hook payload")
    owner = await world.hooks.lookup(token) if isinstance(token, str) and token else None
    if owner is None:
        raise HookNotFoundError("no live hook has this token")  # never echo a bearer secret
    codec = await codecs_for(world).get(owner.run_id)
    digest = None if idempotency_key is None else key_hash("hook", owner.hook_id, idempotency_key)
    await record_hook_payload(world, codec, owner, data, key_hash=digest)
    record = await world.runs.get(owner.run_id)
    assert record is not None
    message = WorkflowMessage(owner.run_id, record.workflow_name)
    await world.queue.send(message.body(), idempotency_key=message.idempotency_key)
    return owner.run_id


class Run:
    """A run of a workflow, by id."""

    def __init__(self, run_id: str, world: World) -> None:
        self.run_id = run_id
        self.world = world

    def __repr__(self) -> str:
        return f"<Run {self.run_id}>"

    async def _record(self) -> RunRecord:
        record = await self.world.runs.get(self.run_id)
        if record is None:
            raise RunNotFoundError(f"no run {self.run_id!r} in this World")
        return record

    async def status(self) -> str:
        return str((await self._record()).status)

    async def result(self, timeout: float | None = None) -> Any:
        """Wait for the run to end; its return value, or WorkflowFailedError. TimeoutError
        after `timeout` seconds (the run goes on)."""
        async with asyncio.timeout(timeout):
            delay = _POLL_START
            while not (await self._record()).status.is_terminal:
                await asyncio.sleep(delay)
                delay = min(_POLL_MAX, delay * 1.5)
        log = await self.world.log.read(self.run_id)
        terminal = next((e for e in reversed(log) if e.is_terminal), None)
        if terminal is None:
            status = (await self._record()).status
            raise CorruptedDataError(
                f"run {self.run_id} is {status} but its log ({len(log)} events) has no ending event"
            )
        codec = await codecs_for(self.world).get(self.run_id)
        if terminal.type == EventType.RUN_COMPLETED:
            return await codec.open(terminal)
        if terminal.type == EventType.RUN_CANCELLED:
            raise WorkflowFailedError("CANCELLED", "the run was cancelled", self.run_id)
        details = await codec.open(terminal) or {}
        code = str(terminal.attrs.get("code", "RUNTIME_ERROR"))
        raise WorkflowFailedError(code, str(details.get("message", "")), self.run_id)

    async def cancel(self) -> None:
        """Cancel the run: no new step starts, waits and hooks are dropped, tokens freed."""
        await self._record()
        codec = await codecs_for(self.world).get(self.run_id)
        await end_run_from_outside(self.world, codec, EventType.RUN_CANCELLED)

    async def stream(
        self, namespace: str | None = None, start_index: int = 0
    ) -> AsyncIterator[Any]:
        """Chunks of one of the run's streams from `start_index`, live until it is closed or
        the run ends."""
        codec = await codecs_for(self.world).get(self.run_id)
        async for chunk in read_stream(self.world, codec, stream_name(namespace), start_index):
            yield chunk

    async def events(self) -> list[dict[str, Any]]:
        """The run's log, decrypted: one dict per event with `type`, `created_at`, ids and
        `data` (the user value the event carries, if any)."""
        await self._record()
        codec = await codecs_for(self.world).get(self.run_id)
        return [await _describe(codec, event) for event in await self.world.log.read(self.run_id)]


async def _describe(codec: Any, event: Event) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "seq": event.seq,
        "type": event.type,
        "event_id": event.event_id,
        "created_at": utc(event.created_at),
        "correlation_id": event.correlation_id,
        **event.public_attrs,
    }
    if event.has_payload:
        entry["data"] = await codec.open(event)
    return entry
