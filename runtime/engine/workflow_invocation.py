"""One workflow invocation: catch up on the log, advance the workflow, record what it did.

The loop below is the heart of the engine. Each turn it looks at the replayed instance and
writes one batch at the head of the log with a conditional append:

- the workflow finished -> `run_completed` / `run_failed` (+ `hook_disposed` for live hooks);
- the only new work is one step -> run it inline and record `step_created`, `step_started`
  and its outcome together (one durable write per sequential step);
- otherwise -> record every new command (steps to fan out through the queue, waits, hooks)
  and the waits that are due, then send the queue messages that hand the work off.

A lost race (another writer appended first) means: read what is new, feed it, decide again.
When nothing is left to record, an invocation that has just queued steps waits in place for
their outcomes for a bounded time (engine/wait_in_place.py), so a run of queued steps is driven
by one warm instance instead of one cold replay per step; otherwise it ends, and queued work
and delayed messages carry on.

What each command is recorded as lives in engine/command_records.py, lock requests in
engine/lock_requests.py, the ending batch and what follows it in engine/workflow_ending.py.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from .. import serde
from ..errors import (
    AppendConflictError,
    CorruptedDataError,
    ErrorCode,
    RunTerminalError,
    SerializationError,
)
from ..registry import get_workflow
from ..world import HookOwner
from .codec import RunCodec
from .command_records import CommandRecorder
from .events import Event, EventType, RunStatus
from .instance import (
    AttributesCommand,
    HookCommand,
    LockCommand,
    Outcome,
    ReplayDivergence,
    StepCommand,
    WaitCommand,
    WorkflowInstance,
)
from .lifecycle import end_run_from_outside, fail_unrecorded_start
from .lock_requests import LockRequests
from .messages import StepMessage, WorkflowMessage
from .recovery import Outbox, pending_work, stall_seconds
from .run_bytes import RunBudget, RunTooLargeError, budget_after, stamp
from .services import WorkflowServices
from .starting import TIMEOUT_WAKE, send_timeout_wake, start_children
from .step_runner import StepOutcome, run_attempt, too_large
from .wait_in_place import StepWaiter
from .workflow_ending import after_ending, ending_batch, repair_ending

FRESH_SECONDS = 1.0
"""How old the invocation's view of the log may be when it starts an inline step without
reading the log first (see `_inline_step`)."""

GIVE_WAY_EVERY = FRESH_SECONDS
"""How often a run of back-to-back inline steps pauses its writes so that writers from outside
(a cancel, a hook payload, the give-up policy) can take the head (see `_give_way`)."""

RUN_AHEAD_EVENTS = 2_000
"""How long a run's log may be for an inline step's outcome to be fed before it is recorded
(see `_run_ahead`): if that append then loses a race, the instance is rebuilt from the log,
a replay of at most this many events."""


@dataclass(frozen=True)
class Ahead:
    """A batch fed to the instance before its append (`_run_ahead`)."""

    head: int
    """The log position the batch was decided at: where it must be appended."""
    run_bytes: int
    """The run's stored payload bytes before the batch."""
    fed: int
    """How many of the batch's first events the instance was fed."""


class RunMoved(Exception):
    """The log says the run was upgraded to another deployment than the message's: this
    invocation hands it on instead of running it here."""

    def __init__(self, deployment: str) -> None:
        super().__init__(deployment)
        self.deployment = deployment


class WorkflowInvocation:
    def __init__(
        self,
        services: WorkflowServices,
        message: WorkflowMessage,
        receive_count: int,
        inline_seconds: float | None = None,
    ) -> None:
        self.services = services
        self.world = services.world
        self.message = message
        self.run_id = message.run_id
        self.receive_count = receive_count
        budget = services.max_inline_seconds if inline_seconds is None else inline_seconds
        self.deadline = asyncio.get_running_loop().time() + budget
        self.codec: RunCodec
        self.recorder: CommandRecorder
        self.locks: LockRequests
        self.instance: WorkflowInstance
        self.inline_results: dict[str, tuple[StepOutcome, list[Event]]] = {}
        self.cold = True  # no warm instance: the first catch-up reads the whole log
        self.unverified = False  # the view came from what this process knew, not a read
        self.seen_head_at = 0.0  # loop time when the log's head was last read or written
        self.gave_way_at = asyncio.get_running_loop().time()
        self.append_seconds = 0.0  # how long the last append took (sizes `_give_way`)
        self.ahead: Ahead | None = None  # the batch to append was fed already (`_run_ahead`)
        self.waiter = StepWaiter(services, self.run_id, self.deadline)

    # --- entry point -----------------------------------------------------------------------

    async def run(self) -> None:
        self.codec = await self.services.codecs.get(self.run_id)
        self.recorder = CommandRecorder(self.world, self.codec, self.run_id, self.message.workflow)
        self.locks = LockRequests(self.services, self.codec, self.run_id, self.message.workflow)
        cached = self.services.take_instance(self.run_id)
        self.instance = cached or self._new_instance()
        self.cold = cached is None
        keep = False
        try:
            keep = await self._advance()
        except RunMoved as moved:  # `runs upgrade` pinned the run to another deployment
            await self.services.send(
                WorkflowMessage(self.run_id, self.message.workflow, dep=moved.deployment), 0.0
            )
        except ReplayDivergence as divergence:
            await self._fail(ErrorCode.REPLAY_DIVERGENCE, str(divergence))
        except CorruptedDataError as error:  # retrying cannot repair the log
            await self._fail(ErrorCode.CORRUPTED_EVENT_LOG, f"CorruptedDataError: {error}")
        except SerializationError as error:  # a recorded value this deployment cannot read
            await self._fail(ErrorCode.RUNTIME_ERROR, f"SerializationError: {error}")
        finally:
            self.waiter.release()
            if keep:
                self.services.keep_instance(self.instance)
            else:
                self.instance.discard()

    def _new_instance(self) -> WorkflowInstance:
        return WorkflowInstance(
            self.run_id,
            get_workflow(self.message.workflow),
            self.codec.secret,
            self.world.limits.max_payload_bytes,
            self.world.limits.max_run_bytes,
        )

    async def _advance(self) -> bool:
        """Drive the run as far as it goes; True when the instance is worth keeping warm."""
        caught_up = await self._catch_up(known=True)
        if self.instance.cursor == 0:  # a run record without `run_created` (see lifecycle)
            if await fail_unrecorded_start(self.world, self.codec):
                return False
            caught_up = await self._catch_up()
        if self.instance.terminal is None and await self._timed_out():
            return False
        if self.instance.terminal is None and (self.receive_count > 1 or self.cold):
            await self._redispatch(caught_up if self.cold else None)
            if self.receive_count > 1 and self.instance.attributes:  # the copy may be lost
                await self._copy_attributes()
        if self.instance.children():
            await self._start_children()
        while True:
            if self.instance.terminal is not None:
                await repair_ending(
                    self.world, self.codec, self.instance, self.recorder.claimed, self.receive_count
                )
                return False
            outcome = self.instance.outcome
            decided = (
                (await self._ending_batch(outcome), [])
                if outcome is not None
                else await self._next_batch()
            )
            if decided is None:
                continue  # the log moved on under us: decide again
            batch, outbox = decided
            if not batch and self.unverified:
                self.unverified = False  # nothing to write on a view not read: read, decide again
                if await self._catch_up():
                    continue
            if not batch:
                if await self._wait_in_place():
                    continue  # outcomes came in: decide again
                await self._rearm_early_wake()
                return True
            if await self._append(batch, outbox) and self.instance.terminal is not None:
                await after_ending(self.world, self.run_id, self.instance)
                return False

    # --- reading -----------------------------------------------------------------------------

    async def _catch_up(self, *, known: bool = False) -> list[Event]:
        """Feed every event recorded since the instance's cursor; returns them.

        `known` (the invocation's first catch-up): a log that can tell what this process saw
        of the run within `FRESH_SECONDS` without a call (the AWS log's `known`: the run this
        process just started, the step result it just appended) is taken at its word. Every
        write decided on that view is conditional on its end, so anything recorded since makes
        it fail and the invocation reads; a decision to write nothing is checked by a read
        first (`unverified`), since the message may be about what this view lacks. Not on a
        redelivery."""
        now = asyncio.get_running_loop().time()
        seen = (
            self.world.log.known(self.run_id, self.instance.cursor, FRESH_SECONDS)
            if known and self.receive_count == 1
            else None
        )
        if seen is not None:
            events, age = seen
            self.seen_head_at, self.unverified = now - age, True
        else:
            events = await self.world.log.read(self.run_id, self.instance.cursor)
            self.seen_head_at, self.unverified = asyncio.get_running_loop().time(), False
        self.instance.expect(events)
        for event in events:
            if not self._feed_now(event):  # a value in the blob store: read it first
                await self._feed(event)
        upgrades = [e for e in events if e.type == EventType.RUN_UPGRADED]
        if upgrades and upgrades[-1].attrs.get("deployment") != self.message.dep:
            raise RunMoved(str(upgrades[-1].attrs["deployment"]))  # the last one is the pin
        return events

    def _feed_now(self, event: Event) -> bool:
        """`_feed` without a coroutine when the event's value needs no I/O (most of a
        replay's thousands of events); False, and nothing fed, otherwise."""
        value = None
        if self.instance.wants_value(event):
            opened, value = self.codec.open_inline(event)
            if not opened:
                return False
        self._apply(event, value)
        return True

    async def _feed(self, event: Event) -> None:
        value = await self.codec.open(event) if self.instance.wants_value(event) else None
        self._apply(event, value)

    def _apply(self, event: Event, value: object) -> None:
        self.instance.apply(event, value)
        self.waiter.fed(event)

    async def _wait_in_place(self) -> bool:
        """Wait for the steps this invocation queued (engine/wait_in_place.py); True when
        their outcomes came in and were fed."""
        return await self.waiter.wait(self._catch_up, lambda: self.instance.terminal is not None)

    # --- deciding what to record -------------------------------------------------------------

    async def _next_batch(self) -> tuple[list[Event], Outbox] | None:
        now = self.world.clock.time()
        new = self.instance.new_commands()
        due = [w for w in self.instance.pending_waits() if w.resume_at <= now]
        granted = await self.locks.granted(self.instance.pending_locks(), self.message.wake)
        if not new and not due and not granted:
            return [], []
        batch = await self._run_started()
        batch.extend(granted)
        outbox: Outbox = []
        budget = [self.world.limits.max_batch_bytes]
        labels = [c for c in new if isinstance(c, AttributesCommand)]
        for command in labels:  # recorded with whatever comes next, inline steps included
            batch.append(await self.recorder.record(command, now, outbox, budget))
        new = [c for c in new if not isinstance(c, AttributesCommand)]
        if (
            not due
            and len(new) == 1
            and isinstance(new[0], StepCommand)
            and self._may_inline(new[0])
        ):
            inline = await self._inline_step(new[0])
            if inline is None:
                return None
            events, outbox = batch + inline[0], inline[1]
            return (await self._run_ahead(events) if not outbox else events), outbox
        queues_steps = any(isinstance(command, StepCommand) for command in new)
        self.waiter.plan(queues_steps)
        for command in new:
            if isinstance(command, StepCommand):
                hint = self.instance.cursor + len(batch)
                outbox.append((self._step_message(command, hint), 0.0))
            if isinstance(command, LockCommand):
                batch.extend(await self.locks.request(command, now, outbox))
                continue
            batch.append(await self.recorder.record(command, now, outbox, budget))
            if isinstance(command, WaitCommand) and command.resume_at <= now:
                due.append(command)
        for wait in due:
            batch.append(
                await self.codec.event(EventType.WAIT_COMPLETED, correlation_id=wait.command_id)
            )
        return batch, outbox

    async def _run_started(self) -> list[Event]:
        """`run_started` for the first batch; the record says running from now on, even if
        that batch waits for a long inline step (a batch that ends the run writes no
        `running`: engine/workflow_ending.py)."""
        if self.instance.started:
            return []
        event = await self.codec.event(EventType.RUN_STARTED)
        pin = self.services.deployment if self.message.dep is None else None  # the first code
        await self.world.runs.update_status(
            self.run_id, RunStatus.RUNNING, updated_at=event.created_at, deployment=pin
        )
        return [event]

    def _may_inline(self, command: StepCommand) -> bool:
        """Inline only while the budget lasts, and a step with a timeout only if it fits.
        Never on a redelivery: the previous delivery may have died inside the inline step
        (which records nothing until it ends), so the step goes through the queue, where a
        crashed attempt is detected and counted (step_invocation.py)."""
        assert command.step is not None
        needs = command.step.timeout or 0.0
        return (
            self.services.inline_steps
            and not command.step.flow_controlled
            and self.receive_count == 1
            and asyncio.get_running_loop().time() + needs < self.deadline
        )

    async def _give_way(self) -> None:
        """Pause writing for a few append round trips. A loop of instant inline steps always
        has its next append in flight, so a writer from outside, which must read the head and
        then append at it, would lose every race to it (both see the same head; this one's
        put was sent first) until the invocation's budget ran out. The pause (a few percent
        of a busy second) lets such a writer in; the read after it notices what it wrote."""
        pause = min(0.1, max(0.005, 4 * self.append_seconds))
        await asyncio.sleep(pause)
        self.gave_way_at = asyncio.get_running_loop().time()

    def _step_message(self, command: StepCommand, position: int) -> StepMessage:
        assert command.step is not None
        until = self.waiter.wait_until(self.world.clock.time())
        return StepMessage(
            self.run_id, command.command_id, command.step.name, position, wait_until=until
        )

    async def _inline_step(self, command: StepCommand) -> tuple[list[Event], Outbox] | None:
        """Run a lone new step right here; its three events go into one write. Returns None
        when the log has moved on (a cancel, a hook payload): the caller decides again.

        No read of the log per step: the append of the step's events is conditional on the
        head the invocation last saw, so if a cancel (or anything else) was recorded since, it
        fails and the invocation catches up and decides again: a step starts at most once
        after a cancel. Only a view older than `FRESH_SECONDS` (a slow step) is refreshed
        first, so such a step does not start after a cancel recorded while the last one ran."""
        assert command.step is not None
        cid, step = command.command_id, command.step
        cached = self.inline_results.get(cid)
        if cached is None:
            now = asyncio.get_running_loop().time()
            stale = now - self.seen_head_at >= FRESH_SECONDS
            if now - self.gave_way_at >= GIVE_WAY_EVERY:
                await self._give_way()
                stale = True
            if stale and await self._catch_up():
                return None  # the log moved on: the run may be cancelled
            created = await self.codec.event(
                EventType.STEP_CREATED,
                correlation_id=cid,
                attrs={"step_name": step.name},
                data=command.args_data,
            )
            outcome = await run_attempt(
                step,
                serde.loads(command.args_data),
                step_id=cid,
                attempt=1,
                workflow=self.instance.metadata,
                clock_time=self.world.clock.time,
                open_writer=self.services.writer_opener(self.codec),
                max_payload_bytes=self.world.limits.max_payload_bytes,
                budget=self._budget_after([created]),
            )
            events = [created, *await outcome.events(self.codec, cid, step.name)]
            cached = self.inline_results[cid] = (outcome, events)
        outcome, events = cached
        if outcome.kind == EventType.STEP_COMPLETED:
            try:  # what was recorded meanwhile (a hook payload) may have taken the room
                self._budget_after(events[:1]).check(
                    outcome.data or b"", f"the result of step {step.name!r}"
                )
            except RunTooLargeError as error:
                outcome = too_large(step, outcome, error)
                events = [events[0], *await outcome.events(self.codec, cid, step.name)]
                self.inline_results[cid] = (outcome, events)
        outbox: Outbox = []
        retry_at = events[-1].attrs.get("retry_at")
        if retry_at is not None:
            position = self.instance.cursor + (0 if self.instance.started else 1)
            message = StepMessage(self.run_id, cid, step.name, position, attempt=2)
            outbox.append((message, max(0.0, retry_at - self.world.clock.time())))
        return events, outbox

    async def _run_ahead(self, batch: list[Event]) -> list[Event]:
        """Feed an inline step's batch before it is written, and when the workflow then ends,
        add its ending to the same write: one write and one call less for every run that ends
        right after an inline step (most runs). The append stays conditional on the head the
        batch was decided at (`self.ahead`); when it fails, the instance has been fed what the
        log does not hold and is rebuilt from the log (`_rebuild`). That replay happens only
        when something else was recorded while the step ran (a cancel, a hook payload, a racing
        delivery), so only on logs short enough for it to stay cheap (`RUN_AHEAD_EVENTS`)."""
        head = self.instance.cursor
        if head + len(batch) > min(RUN_AHEAD_EVENTS, self.world.limits.max_events_per_run):
            return batch
        self.ahead = Ahead(head, self.instance.run_bytes, len(batch))
        for event in batch:
            await self._feed(event.at(self.instance.cursor))
        outcome = self.instance.outcome  # the batch holds no ending: the run is still live
        return batch if outcome is None else batch + await self._ending_batch(outcome)

    async def _rebuild(self) -> None:
        """Start the instance over from the log: it was fed a batch that was not recorded as
        fed (`_run_ahead`). Inline results are kept, so no step runs again for this."""
        self.instance.discard()
        self.instance = self._new_instance()
        await self._catch_up()

    # --- writing -----------------------------------------------------------------------------

    async def _append(self, batch: list[Event], outbox: Outbox) -> bool:
        """Append at the head; on success feed the batch (what `_run_ahead` did not) and send
        the outbox. On a lost race, feed what the winner wrote instead and return False."""
        ahead, self.ahead = self.ahead, None
        head = ahead.head if ahead else self.instance.cursor
        run_bytes = ahead.run_bytes if ahead else self.instance.run_bytes
        refused: tuple[ErrorCode, str] | None = None
        limit = self.world.limits.max_events_per_run
        if head + len(batch) > limit and not batch[-1].is_terminal:
            refused = (
                ErrorCode.MAX_EVENTS_EXCEEDED,
                f"the run reached the limit of {limit} events",
            )
        else:
            try:
                batch = self._stamp(batch, run_bytes)
            except RunTooLargeError as error:  # values checked before writing raced past it
                refused = (ErrorCode.MAX_RUN_BYTES_EXCEEDED, str(error))
        if refused is not None:  # the batch may not be recorded: the run fails instead
            if ahead is not None:  # the instance was fed it: back to what the log holds
                await self._rebuild()
                ahead = None
            ending = await self._ending_batch(Outcome(ok=False), *refused)
            batch, outbox = self._stamp(ending, self.instance.run_bytes), []
            head = self.instance.cursor
        sent_at = asyncio.get_running_loop().time()
        try:
            await self.world.log.append(self.run_id, head, batch)
        except (AppendConflictError, RunTerminalError):
            await (self._catch_up() if ahead is None else self._rebuild())
            return False
        self.seen_head_at = asyncio.get_running_loop().time()
        self.unverified = False  # the append at the view's end proves nothing came between
        self.append_seconds = self.seen_head_at - sent_at
        for event in batch[ahead.fed if ahead else 0 :]:
            await self._feed(event.at(self.instance.cursor))
        for event in batch:
            if event.type == EventType.HOOK_DISPOSED and not batch[-1].is_terminal:
                await self._release_hook(event.correlation_id or "")
        for message, delay in outbox:
            await self.services.send(message, delay)
            if isinstance(message, StepMessage):
                self.waiter.queued(message, self.seen_head_at)
        self.waiter.all_queued(len(outbox))
        if any(e.type == EventType.ATTRIBUTES_SET for e in batch):
            await self._copy_attributes()
        if any(e.type == EventType.CHILD_CREATED for e in batch):
            await self._start_children()
        return True

    def _stamp(self, batch: list[Event], run_bytes: int) -> list[Event]:
        """The batch with the run's payload total after it (`run_bytes` before it); a terminal
        batch is never refused."""
        limit = None if batch[-1].is_terminal else self.world.limits.max_run_bytes
        return stamp(self.run_id, batch, run_bytes, limit)

    def _budget_after(self, batch: list[Event]) -> RunBudget:
        """What the run may store once `batch` (not yet recorded) is."""
        limit = self.world.limits.max_run_bytes
        return budget_after(self.run_id, batch, self.instance.run_bytes, limit)

    async def _release_hook(self, hook_id: str) -> None:
        command = self.instance.commands.get(hook_id)
        if isinstance(command, HookCommand) and command.hook is not None:
            await self.world.hooks.release(HookOwner(command.hook.token, self.run_id, hook_id))

    # --- ending (engine/workflow_ending.py) -----------------------------------------------------

    async def _ending_batch(
        self, outcome: Outcome, code: ErrorCode = ErrorCode.USER_ERROR, message: str = ""
    ) -> list[Event]:
        return await ending_batch(self.world, self.instance, self.recorder, outcome, code, message)

    async def _copy_attributes(self) -> None:
        """The run's attributes onto its record (where listings find them)."""
        instance = self.instance
        await self.world.runs.set_attributes(
            self.run_id, instance.attributes, version=instance.attributes_version
        )

    async def _start_children(self) -> None:
        """Start the recorded children not yet started from here (engine/starting.py)."""
        await start_children(self.world, self.run_id, self.instance.children())

    async def _timed_out(self) -> bool:
        """Fail the run if it is past its `with_options(timeout=...)`; True when it ended.
        A timeout's own wake-up that arrived early (a clock behind) is sent again."""
        timeout_at = self.instance.created_attrs.get("timeout_at")
        if timeout_at is None:
            return False
        now = self.world.clock.time()
        if now < float(timeout_at):
            if self.message.wake == TIMEOUT_WAKE:
                await send_timeout_wake(
                    self.world,
                    self.run_id,
                    self.message.workflow,
                    float(timeout_at),
                    self.message.dep,
                )
            return False
        allowed = float(timeout_at) - self.instance.metadata.started_at.timestamp()
        await self._fail(
            ErrorCode.TIMED_OUT, f"the run did not end within its timeout of {allowed:g} s"
        )
        return True

    async def _fail(self, code: ErrorCode, message: str) -> None:
        await end_run_from_outside(
            self.world, self.codec, EventType.RUN_FAILED, code=code, message=message
        )

    # --- messages ----------------------------------------------------------------------------

    async def _redispatch(self, log: list[Event] | None) -> None:
        """Some invocation may have died between appending work and sending its messages, and
        the message that would repair it may come back with any receive count (a dead letter
        re-driven starts again at 1). A redelivery re-sends all pending work; a cold
        invocation, which has just read the whole log anyway, re-sends the work that has been
        quiet for the stall time (runtime/engine/recovery.py). Receivers are idempotent."""
        stale = 0.0 if self.receive_count > 1 else stall_seconds()
        if log is None:
            log = await self.world.log.read(self.run_id)
        work = pending_work(
            self.run_id,
            log,
            self.message.workflow,
            self.world.clock.time(),
            stale,
            self.world.queue.max_delay,
            continuation=False,
        )
        for message, delay in work:
            await self.services.send(message, delay)

    async def _rearm_early_wake(self) -> None:
        """A chained wake-up arrived before its wait is due (delays are capped): send the next."""
        wake = self.message.wake
        command = self.instance.commands.get(wake) if wake else None
        if isinstance(command, WaitCommand) and not (command.completed or command.cancelled):
            await self._send_wake(command)

    async def _send_wake(self, wait: WaitCommand) -> None:
        now = self.world.clock.time()
        await self.services.send(*self.recorder.wake_message(wait.command_id, wait.resume_at, now))
