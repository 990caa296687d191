"""The framework-neutral function host: `await host.handle(message)` processes one queue message.

Lambda, the HTTP handler and the local emulator all end up here. A host keeps what a warm
function may keep between invocations: data keys (per run), run metadata, and suspended
workflow instances (the sticky cache: the next invocation of the same run applies only the new
events instead of replaying from the start). Invocations of one run are serialized within a
host, so a duplicated message waits for the first instead of racing it.

A timer hop (a wait longer than the queue's longest delay, engine/messages.py) is handled here
and touches nothing but the queue: no run record, no log, no replay.

Deployment pinning (docs/deployments.md): a host serves one deployment (`deployment`, from
runtime/deployment.py unless given). A message pinned to another one is never run on this
code: the host hands it on through the queue when the World routes by deployment (the AWS
World: a queue per live deployment), else raises `ForeignDeploymentError` (retried; the give-up
policy ends the run if no host of its deployment ever takes it). Every message the host sends
for a run carries the run's deployment, so a whole run stays on the version that started it.

A workflow invocation that queued steps may wait in place for their outcomes
(engine/wait_in_place.py); the host wakes it when a continuation for its run is sent here, and
settles the continuations it made redundant from the log, without loading the run.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

from ..context import WorkflowMetadata, utc
from ..deployment import current_deployment_id
from ..errors import ForeignDeploymentError, RunNotFoundError, WorkflowNotFoundError
from ..registry import get_step, get_workflow
from ..world import World
from .codec import RunCodec, codecs_for
from .debounce import fire_debounced
from .give_up import Verdict, settle
from .instance import WorkflowInstance
from .messages import (
    DebounceMessage,
    Message,
    StepMessage,
    TimerMessage,
    WorkflowMessage,
    parse_message,
    wake_message,
    with_deployment,
)
from .recovery import rewake
from .step_invocation import run_step_message
from .streams import StreamWriter
from .tracing import enabled as tracing_enabled
from .tracing import invocation_span, run_traces, stamp
from .wait_in_place import settled, wait_seconds
from .workflow_invocation import WorkflowInvocation


class FunctionHost:
    """Runs workflow and step invocations against one World, giving them what they need
    (the `WorkflowServices` of engine/services.py: the World, codecs, sending, warm state)."""

    def __init__(
        self,
        world: World,
        *,
        inline_steps: bool = True,
        max_inline_seconds: float = 60.0,
        cache_size: int = 256,
        deployment: str | None = None,
        wait_in_place_seconds: float | None = None,
        max_waiting: int | None = None,
    ) -> None:
        """`wait_in_place_seconds`: how long a workflow invocation waits for the steps it
        queued (default `STEPLANE_WAIT_IN_PLACE_SECONDS` or 2 s; 0 never waits).
        `max_waiting`: how many invocations may wait at once in this host (None: no limit;
        a host with a fixed number of workers, like the emulator, keeps some free for the
        steps being waited for)."""
        self.world = world
        self._deployment = deployment
        self.inline_steps = inline_steps
        self.max_inline_seconds = max_inline_seconds
        self.wait_in_place_seconds = (
            wait_seconds() if wait_in_place_seconds is None else wait_in_place_seconds
        )
        self.max_waiting = max_waiting
        self._waiting: dict[str, asyncio.Event] = {}
        self.codecs = codecs_for(world)
        self._cache_size = cache_size
        self._instances: collections.OrderedDict[str, WorkflowInstance] = collections.OrderedDict()
        self._metadata: collections.OrderedDict[str, WorkflowMetadata] = collections.OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}

    async def process(
        self, raw: Any, *, receive_count: int = 1, inline_seconds: float | None = None
    ) -> Verdict:
        """Process one message and decide what its failure means (runtime/engine/give_up.py): every
        entry point (Lambda, HTTP /invoke, the emulator) settles messages the same way.
        Never raises, except the cancellation of the invocation itself."""
        try:
            await self.handle(raw, receive_count=receive_count, inline_seconds=inline_seconds)
        except asyncio.CancelledError:
            raise
        except BaseException as error:
            return await settle(self, raw, error, receive_count)
        return Verdict("ok")

    async def handle(
        self, raw: Any, *, receive_count: int = 1, inline_seconds: float | None = None
    ) -> None:
        """Process one message. Raises InvalidMessageError / WorkflowNotFoundError for messages
        that can never succeed here; other exceptions mean "retry later".

        `inline_seconds` overrides `max_inline_seconds` for this invocation: how long it may
        keep starting steps inline (Lambda passes what its function timeout leaves)."""
        message = parse_message(raw)
        if message.dep is not None and message.dep != self.deployment:
            claimed = await self._foreign(message)
            if claimed is None:
                return
            message = claimed
        try:
            if isinstance(message, WorkflowMessage | TimerMessage | DebounceMessage):
                get_workflow(message.workflow)
            else:
                get_step(message.step)
        except WorkflowNotFoundError as error:
            raise WorkflowNotFoundError(f"{error} (message for run {message.run_id})") from None
        if not tracing_enabled():
            await self._dispatch(message, receive_count, inline_seconds)
            return
        trace = message.trace
        if trace is None:  # sent without one: the run's, from its run_created event
            trace = await run_traces(self.world).of(self.world, message.run_id)
        target = message.step if isinstance(message, StepMessage) else message.workflow
        with invocation_span(message.kind, message.run_id, target, trace, receive_count):
            await self._dispatch(message, receive_count, inline_seconds)

    async def _dispatch(
        self, message: Message, receive_count: int, inline_seconds: float | None
    ) -> None:
        if isinstance(message, TimerMessage):
            await self._hop(message)
        elif isinstance(message, DebounceMessage):
            await fire_debounced(self.world, message, self.send)
        elif isinstance(message, WorkflowMessage):
            # A continuation a waiting invocation made redundant costs a read, not a replay.
            # Not on a redelivery: its first delivery may have died after writing (the very
            # event that would settle it) and before sending its messages.
            check = receive_count == 1 and message.after is not None
            if check and await settled(self.world, message):
                return
            run_id = message.run_id
            behind = self._run_busy(run_id)
            async with self._run_lock(run_id):
                if check and behind and await settled(self.world, message):
                    return  # the invocation it queued behind consumed it
                await WorkflowInvocation(self, message, receive_count, inline_seconds).run()
        else:
            await run_step_message(self, message, receive_count)

    async def rewake(self, run_id: str, *, stale_after: float = 0.0) -> int:
        """Re-send the run's pending work that is not in flight (runtime/engine/recovery.py);
        how many messages were sent."""
        async with self._run_lock(run_id):
            return await rewake(self, run_id, stale_after=stale_after)

    async def purge_run(self, run_id: str) -> bool:
        """Delete an ended run's data from the World (retention, engine/retention.py) under
        the run's lock, so no workflow invocation of it in this host interleaves, then
        forget what this host keeps of it. False (nothing done) for a live or unknown run."""
        async with self._run_lock(run_id):
            record = await self.world.runs.get(run_id)
            if record is None or not record.status.is_terminal:
                return False
            await self.world.purge_run(run_id)
            self.forget_run(run_id)
        return True

    def forget_run(self, run_id: str) -> None:
        """Drop this host's warm state of a run (instance, metadata, data key)."""
        instance = self._instances.pop(run_id, None)
        if instance is not None:
            instance.discard()
        self._metadata.pop(run_id, None)
        self.codecs.forget(run_id)

    # --- deployments -----------------------------------------------------------------------

    @property
    def deployment(self) -> str | None:
        """The deployment this host's code is (resolved at first use, when the workflow
        modules have been imported)."""
        if self._deployment is None:
            self._deployment = current_deployment_id()
        return self._deployment

    async def _foreign(self, message: Message) -> Message | None:
        """A message pinned to another deployment: sent on towards that deployment's hosts
        when the queue routes by deployment (None: done here). Without a route, a message
        of a run since upgraded to this deployment (a stale wake-up) is this host's to run
        (returned, re-pinned); of an ended run, dropped; else `ForeignDeploymentError`."""
        assert message.dep is not None
        if await self.world.queue.has_route(message.dep):
            await self.world.queue.send(message.body(), idempotency_key=message.idempotency_key)
            return None
        record = await self.world.runs.get(message.run_id)
        if record is None or record.status.is_terminal:
            return None  # nothing left for any deployment to do
        if record.deployment == self.deployment:
            return replace(message, dep=self.deployment)
        raise ForeignDeploymentError(
            f"the message of run {message.run_id} is for deployment {message.dep!r}, "
            f"this host runs {self.deployment!r} and its queue has no route to it"
        )

    # --- messages --------------------------------------------------------------------------

    async def send(self, message: Message, delay: float) -> None:
        """Send `message`, pinned to its run's deployment: the one recovery read from the
        record when it says, else this host's, since a host runs only messages of its own
        deployment (and unpinned ones, whose run then stays on the code that ran it first)."""
        message = with_deployment(message, self.deployment)
        await self.world.queue.send(
            stamp(message.body()), delay=delay, idempotency_key=message.idempotency_key
        )
        if isinstance(message, WorkflowMessage):
            self.outcome_recorded(message.run_id)

    def outcome_recorded(self, run_id: str) -> bool:
        news = self._waiting.get(run_id)
        if news is None:
            return False
        news.set()  # an invocation of this run waits in place here: it reads now
        return True

    # --- waiting in place (engine/wait_in_place.py) ------------------------------------------

    def claim_wait(self, run_id: str) -> asyncio.Event | None:
        """A wake-up for an invocation of `run_id` that waits in place, or None when this
        host's waiting slots are taken (it then ends as usual)."""
        if run_id in self._waiting:
            return None
        if self.max_waiting is not None and len(self._waiting) >= self.max_waiting:
            return None
        news = self._waiting[run_id] = asyncio.Event()
        return news

    def release_wait(self, run_id: str, news: asyncio.Event) -> None:
        if self._waiting.get(run_id) is news:
            del self._waiting[run_id]

    async def _hop(self, timer: TimerMessage) -> None:
        """Pass a long wait's timer on: the next hop, or the wake-up itself once the queue
        can delay it until `due`. A duplicated hop sends the same next message (same key)."""
        clock, max_delay = self.world.clock.time(), self.world.queue.max_delay
        args = (timer.run_id, timer.workflow, timer.wake, timer.due, clock, max_delay)
        await self.send(*wake_message(*args, hop=timer.hop))

    # --- warm state ------------------------------------------------------------------------

    def take_instance(self, run_id: str) -> WorkflowInstance | None:
        return self._instances.pop(run_id, None)

    def keep_instance(self, instance: WorkflowInstance) -> None:
        self._instances[instance.run_id] = instance
        while len(self._instances) > self._cache_size:
            _, evicted = self._instances.popitem(last=False)
            evicted.discard()

    def forget_instances(self) -> None:
        while self._instances:
            self._instances.popitem()[1].discard()

    async def workflow_metadata(self, run_id: str) -> WorkflowMetadata:
        metadata = self._metadata.get(run_id)
        if metadata is None:
            record = await self.world.runs.get(run_id)
            if record is None:
                raise RunNotFoundError(f"no run {run_id!r} in this World")
            metadata = WorkflowMetadata(run_id, record.workflow_name, utc(record.created_at))
            self._metadata[run_id] = metadata
            if len(self._metadata) > self._cache_size * 16:
                self._metadata.popitem(last=False)
        return metadata

    def writer_opener(self, codec: RunCodec) -> Callable[[str | None], StreamWriter]:
        loop = asyncio.get_running_loop()  # plain-def steps write from a thread through it
        return lambda name: StreamWriter(self.world, codec, name or "default", loop)

    def _run_busy(self, run_id: str) -> bool:
        lock = self._locks.get(run_id)
        return lock is not None and lock.locked()

    @asynccontextmanager
    async def _run_lock(self, run_id: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(run_id, asyncio.Lock())
        try:
            async with lock:
                yield
        finally:
            if not lock.locked() and not getattr(lock, "_waiters", None):
                self._locks.pop(run_id, None)
