"""One workflow run's replayable state: its coroutine, its loop, and the commands it issued.

The host feeds recorded events to `apply()` in log order; between events the deterministic loop
runs the workflow until it is idle. Every durable thing the workflow does (call a step, start a
timer, create or dispose a hook) becomes a *command* with an id taken from call order
(`step_1`, `wait_2`, `hook_3`, ...). A recorded `*_created` event must meet the command with the
same id and name, otherwise the code diverged from the log (`ReplayDivergence`). Commands with
no recorded event yet are new: the host records them, runs them, or queues them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import random as _random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import serde
from ..context import WorkflowMetadata, utc, workflow_context, workflow_slice
from ..definitions import StepDef, WorkflowDef
from ..errors import SteplaneError, WorkflowFailedError, WorkflowThreadError
from ..hook_handle import Hook
from ..world import Limits
from .events import Event, EventType, check_recorded
from .idempotency import run_id_for_key
from .replay_loop import DeterministicEventLoop
from .run_bytes import RunBudget, stored_bytes, total_after


class ReplayDivergence(SteplaneError):
    """The workflow code no longer matches its recorded log."""


@dataclass(eq=False)
class Command:
    command_id: str
    recorded: bool = False


@dataclass(eq=False)
class StepCommand(Command):
    step: StepDef | None = None
    args_data: bytes = b""
    future: asyncio.Future[Any] | None = None
    finished: bool = False
    deferred: tuple[tuple[Any, ...], dict[str, Any]] | None = None
    """The call's arguments, not serialized yet: the log being fed records this call
    (`WorkflowInstance.expect`), so its bytes are never written. Serialized (and checked)
    only if the command is asked for as new after all (`WorkflowInstance.new_commands`)."""
    recorded_size: int = 0
    """Stored bytes of the recorded `step_created` of a deferred call (the run budget)."""


@dataclass(eq=False)
class WaitCommand(Command):
    handle: asyncio.TimerHandle | None = None
    resume_at: float = 0.0
    completed: bool = False
    cancelled: bool = False


@dataclass(eq=False)
class HookCommand(Command):
    hook: Hook | None = None
    metadata_data: bytes = b""
    disposal_recorded: bool = False


@dataclass(eq=False)
class HookDisposal(Command):
    """Disposing a hook: recorded as `hook_disposed` with the hook's id."""

    hook: Hook | None = None


@dataclass(eq=False)
class ChildCommand(Command):
    """`start_child(wf, ...)`: recorded as `child_created`, then the child run is started
    (idempotently: its run id is derived from this run and the command id)."""

    workflow_name: str = ""
    child_run_id: str = ""
    args_data: bytes = b""
    on_parent_end: str = "cancel"
    timeout: float | None = None
    """The child's run timeout in seconds (`with_options(timeout=)`), counted from its start."""
    confirmed: bool = False
    """This process started (or found) the child run since the command was recorded."""
    ended: bool = False
    future: asyncio.Future[Any] | None = None
    """Resolved by `child_ended`: what `ChildRun.result()` awaits."""


@dataclass(eq=False)
class AttributesCommand(Command):
    """`set_attributes(...)`: recorded as `attributes_set`, then copied to the run record."""

    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(eq=False)
class LockCommand(Command):
    """Asking for a permit of a lock or limit (runtime/locks.py); `future` gets the fence."""

    key: str = ""
    max: int = 1
    lease: float | None = None
    order: float = 0.0
    future: asyncio.Future[Any] | None = None
    acquired: bool = False
    released: bool = False
    release_future: asyncio.Future[Any] | None = None
    holder: str = ""
    """The holder id in the coordination item: `run_id/lock_N`."""


@dataclass(eq=False)
class LockRelease(Command):
    """Giving a permit (or a place in the queue) back: recorded as `lock_released`."""

    lock: LockCommand | None = None


def _pending_bytes(command: StepCommand) -> int:
    """What an issued, not yet recorded step call adds to the run's bytes: its serialized
    arguments, or for a replayed call whose serializing was deferred, the recorded size."""
    return command.recorded_size if command.deferred is not None else len(command.args_data)


@dataclass
class Outcome:
    ok: bool
    value: Any = None
    error: BaseException | None = None


@dataclass(eq=False)
class WorkflowInstance:
    """Replay state of one run (see module docstring). Not thread-safe; one host owns it."""

    run_id: str
    workflow: WorkflowDef
    secret: bytes
    max_payload_bytes: int
    max_run_bytes: int = Limits.max_run_bytes
    clock: float = 0.0
    run_bytes: int = 0
    """The run's stored payload bytes through the cursor (engine/run_bytes.py)."""
    cursor: int = 0
    commands: dict[str, Command] = field(default_factory=dict)
    new: list[Command] = field(default_factory=list)
    _new_args_bytes: int = 0
    """The argument bytes of the step commands in `new`, kept as they come and go: `budget()`
    is asked at every call, and summing `new` there made a fan-out's issuing O(N²)."""
    terminal: Event | None = None
    started: bool = False
    thread_violation: str | None = None  # set by context.check_step_thread: the run must fail
    created_attrs: dict[str, Any] = field(default_factory=dict)
    """`run_created`'s attributes: the parent link, the timeout (engine/links.py)."""
    attributes: dict[str, str] = field(default_factory=dict)
    """Every attribute recorded so far, merged (what the run record should hold)."""
    attributes_version: int = 0
    """The log position of the last `attributes_set` (RunStore.set_attributes' version)."""

    def __post_init__(self) -> None:
        self.loop = DeterministicEventLoop(self)
        self.rng = _random.Random(self._derive(b"random"))
        self._counter = 0
        self._timers: dict[int, WaitCommand] = {}
        # Recorded waits neither completed nor cancelled, in recording order: the host asks at
        # every decision, so it is kept up to date instead of scanned from every command.
        self._pending_waits: dict[str, WaitCommand] = {}
        self._main: asyncio.Task[Any] | None = None
        self._children: list[ChildCommand] = []  # every invocation looks: kept, not scanned
        # Locks recorded as requested and not yet given back, in recording order: asked at
        # every decision too (a scan of every command made a step's cost grow with history).
        self._open_locks: dict[str, LockCommand] = {}
        self._expected: dict[str, int] = {}  # step ids recorded ahead -> stored bytes (expect)
        self._step_ids = hmac.new(self.secret, b"step-id|", hashlib.sha256)  # copied per id
        self.metadata = WorkflowMetadata(self.run_id, self.workflow.name, utc(0))

    # --- what the host asks ------------------------------------------------------------------

    @property
    def outcome(self) -> Outcome | None:
        """The workflow's return value or exception once its coroutine has finished."""
        if self.thread_violation is not None:
            return Outcome(ok=False, error=WorkflowThreadError(self.thread_violation))
        if self._main is None or not self._main.done():
            return None
        if self._main.cancelled():
            return Outcome(ok=False, error=asyncio.CancelledError("the workflow was cancelled"))
        error = self._main.exception()
        return (
            Outcome(ok=False, error=error) if error else Outcome(ok=True, value=self._main.result())
        )

    def budget(self) -> RunBudget:
        """What the run may still store, counting commands issued but not yet recorded."""
        return RunBudget(self.run_id, self.run_bytes + self._new_args_bytes, self.max_run_bytes)

    def new_commands(self) -> list[Command]:
        for command in self.new:
            if isinstance(command, StepCommand) and command.deferred is not None:
                self._new_args_bytes -= _pending_bytes(command)
                self._serialize(command)  # expected in the log, yet not met: record it whole
                self._new_args_bytes += _pending_bytes(command)
        return list(self.new)

    def expect(self, events: list[Event]) -> None:
        """Note the step calls that `events`, about to be fed, record: when the workflow makes
        one of them, its arguments need not be serialized (their bytes are in the log).
        Only a saving: the `step_created` still has to meet the call (`ReplayDivergence`)."""
        for event in events:
            if event.type == EventType.STEP_CREATED and event.correlation_id:
                self._expected[event.correlation_id] = stored_bytes(event)

    def pending_waits(self) -> list[WaitCommand]:
        return list(self._pending_waits.values())

    def pending_locks(self) -> list[LockCommand]:
        """Locks recorded as requested, neither acquired nor given back: the run waits."""
        return [c for c in self._open_locks.values() if not c.acquired]

    def lock_claims(self) -> list[tuple[str, str]]:
        """(key, holder) of every lock the run asked for and has not given back: what its
        ending releases (engine/lifecycle.py)."""
        return [(c.key, c.holder) for c in self._open_locks.values()]

    def live_hooks(self) -> list[Hook]:
        """Hooks recorded as created and not yet recorded as disposed (they hold tokens)."""
        return [
            c.hook
            for c in self.commands.values()
            if isinstance(c, HookCommand) and c.recorded and c.hook and not c.disposal_recorded
        ]

    @staticmethod
    def wants_value(event: Event) -> bool:
        """Whether `apply` needs the event's decoded payload."""
        return event.type in (
            EventType.RUN_CREATED,
            EventType.STEP_COMPLETED,
            EventType.STEP_FAILED,
            EventType.HOOK_RECEIVED,
            EventType.CHILD_ENDED,
        )

    # --- feeding the log ---------------------------------------------------------------------

    def apply(self, event: Event, value: Any = None) -> None:
        """Feed one recorded event, then run the workflow until it is idle."""
        self.clock = max(self.clock, event.created_at)
        self.cursor = event.seq + 1 if event.seq >= 0 else self.cursor + 1
        check_recorded(event, self.run_id)  # skipping what it cannot read could mislead
        self.run_bytes = total_after([event], self.run_bytes)
        handler = _APPLY.get(event.type)
        if handler is not None:
            handler(self, event, value)
        if event.is_terminal:
            self.terminal = event
        if self.loop.has_ready():  # most recorded events wake nothing: skip the loop's setup
            with workflow_slice(self):
                self.loop.run_until_idle()

    def _started(self, event: Event, _: Any) -> None:
        self.started = True

    def _start(self, event: Event, value: Any) -> None:
        self.created_attrs = dict(event.attrs)
        self.metadata = WorkflowMetadata(self.run_id, self.workflow.name, utc(event.created_at))
        context = workflow_context(self)
        try:
            if self.workflow.concurrency is not None:
                coro = self._limited(value["args"], value["kwargs"])
            else:
                coro = self.workflow.fn(*value["args"], **value["kwargs"])
        except Exception as error:  # e.g. arguments that no longer fit a changed signature
            coro = _raise(error)
        self._main = self.loop.create_task(coro, name=self.run_id, context=context)

    async def _limited(self, args: Any, kwargs: Any) -> Any:
        """The workflow under its `concurrency` limit: a permit first (in start order), held
        until the run ends, whose bookkeeping gives it back (no write of its own)."""
        limit = self.workflow.concurrency
        assert limit is not None
        name = limit.key_of(self.workflow.name, args, kwargs)
        await self.acquire_lock("limit", name, limit.max, limit.lease_seconds).future  # type: ignore[misc]
        return await self.workflow.fn(*args, **kwargs)

    def _match(self, event: Event, kind: type[Command]) -> Any:
        command = self.commands.get(event.correlation_id or "")
        if not isinstance(command, kind):
            found = type(command).__name__ if command else "nothing"
            raise ReplayDivergence(
                f"the log records {event.type} {event.correlation_id} at position {event.seq}, "
                f"but the workflow code issued {found} there"
            )
        return command

    def _step_created(self, event: Event, _: Any) -> None:
        command: StepCommand = self._match(event, StepCommand)
        recorded_name = event.attrs.get("step_name")
        if command.step is None or command.step.name != recorded_name:
            actual = command.step.name if command.step else "?"
            raise ReplayDivergence(
                f"the log records step {recorded_name!r} as {command.command_id}, "
                f"but the workflow code now calls {actual!r} there"
            )
        self._expected.pop(command.command_id, None)
        self._mark_recorded(command)
        command.deferred = None  # recorded: its arguments are the log's

    def _step_finished(self, event: Event, value: Any) -> None:
        command: StepCommand = self._match(event, StepCommand)
        command.finished = True
        if command.future is None or command.future.done():
            return
        if event.type == EventType.STEP_COMPLETED:
            command.future.set_result(value)
        else:
            name = command.step.name if command.step else ""
            command.future.set_exception(serde.rebuild_exception(value, name))

    def _wait_created(self, event: Event, _: Any) -> None:
        command: WaitCommand = self._match(event, WaitCommand)
        command.resume_at = float(event.attrs.get("resume_at", command.resume_at))
        self._mark_recorded(command)
        if not (command.completed or command.cancelled):
            self._pending_waits[command.command_id] = command

    def _wait_completed(self, event: Event, _: Any) -> None:
        command: WaitCommand = self._match(event, WaitCommand)
        command.completed = True
        self._pending_waits.pop(command.command_id, None)
        if command.handle is not None:
            self._timers.pop(id(command.handle), None)
            self.loop.fire_timer(command.handle)

    def _hook_created(self, event: Event, _: Any) -> None:
        command: HookCommand = self._match(event, HookCommand)
        self._mark_recorded(command)
        if event.type == EventType.HOOK_CONFLICT and command.hook is not None:
            command.hook.feed_conflict(str(event.attrs.get("message", "token already in use")))

    def _hook_received(self, event: Event, value: Any) -> None:
        command: HookCommand = self._match(event, HookCommand)
        if command.hook is not None:
            command.hook.feed_payload(value)

    def _hook_disposed(self, event: Event, _: Any) -> None:
        command: HookCommand = self._match(event, HookCommand)
        command.disposal_recorded = True
        for pending in list(self.new):
            if isinstance(pending, HookDisposal) and pending.hook is command.hook:
                self.new.remove(pending)
        if command.hook is not None:
            command.hook.feed_disposed()

    def _child_created(self, event: Event, _: Any) -> None:
        command: ChildCommand = self._match(event, ChildCommand)
        if command.workflow_name != event.attrs.get("workflow_name"):
            raise ReplayDivergence(
                f"the log records child {event.attrs.get('workflow_name')!r} as "
                f"{command.command_id}, but the workflow code now starts {command.workflow_name!r}"
            )
        self._mark_recorded(command)

    def _child_ended(self, event: Event, value: Any) -> None:
        command: ChildCommand = self._match(event, ChildCommand)
        command.ended = True
        if command.future is None or command.future.done():
            return
        value = value if isinstance(value, dict) else {}
        if event.attrs.get("status") == "completed":
            command.future.set_result(value.get("value"))
        else:
            code = str(event.attrs.get("code") or "CANCELLED")
            message = str(value.get("message", ""))
            command.future.set_exception(WorkflowFailedError(code, message, command.child_run_id))

    def _attributes_set(self, event: Event, _: Any) -> None:
        command: AttributesCommand = self._match(event, AttributesCommand)
        self.attributes.update(event.attrs.get("attributes") or {})
        self.attributes_version = event.seq
        self._mark_recorded(command)

    def children(self) -> list[ChildCommand]:
        return list(self._children)

    def _lock_requested(self, event: Event, _: Any) -> None:
        command: LockCommand = self._match(event, LockCommand)
        if event.attrs.get("key") != command.key:
            raise ReplayDivergence(
                f"the log records {command.command_id} as a request for another lock than "
                "the one the workflow code now asks for"
            )
        self._mark_recorded(command)
        if not command.released:
            self._open_locks[command.command_id] = command

    def _lock_acquired(self, event: Event, _: Any) -> None:
        command: LockCommand = self._match(event, LockCommand)
        command.acquired = True
        if command.future is not None and not command.future.done():
            command.future.set_result(int(event.attrs["fence"]))

    def _lock_released(self, event: Event, _: Any) -> None:
        command: LockCommand = self._match(event, LockCommand)
        command.released = True
        self._open_locks.pop(command.command_id, None)
        for pending in list(self.new):
            if isinstance(pending, LockRelease) and pending.lock is command:
                self.new.remove(pending)
        if command.release_future is not None and not command.release_future.done():
            command.release_future.set_result(None)

    def _mark_recorded(self, command: Command) -> None:
        command.recorded = True
        if command in self.new:
            self.new.remove(command)
            if isinstance(command, StepCommand):
                self._new_args_bytes -= _pending_bytes(command)

    # --- called by workflow code (through the public API) -----------------------------------

    def _next_id(self, kind: str) -> str:
        self._counter += 1
        return self.command_id(kind, self._counter)

    def command_id(self, kind: str, number: int) -> str:
        """Ids follow call order. Step ids also carry a suffix derived from the run's secret,
        so `step_id` is unique across runs and safe to hand to other systems as an
        idempotency key (`step_3_k2j8d9x0qa4mz`); replays derive the same ids."""
        if kind != "step":
            return f"{kind}_{number}"
        keyed = self._step_ids.copy()  # the key's setup done once per instance, not per id
        keyed.update(f"{number}|{self.run_id}".encode())
        return _step_id(number, keyed.digest())

    def call_step(
        self, step: StepDef, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> asyncio.Future[Any]:
        step.check_arguments(args, kwargs)
        command_id = self.command_id("step", self._counter + 1)
        command = StepCommand(command_id, step=step, future=self.loop.create_future())
        recorded_size = self._expected.get(command_id)
        if recorded_size is not None:  # a replayed call: its bytes are in the log already
            command.deferred, command.recorded_size = (args, kwargs), recorded_size
        else:
            self._serialize(command, args, kwargs)
        self._counter += 1  # only once the call is accepted, as `_next_id` does
        self._issue(command)
        assert command.future is not None
        return command.future

    def _serialize(
        self,
        command: StepCommand,
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        """Serialize a step call's arguments and check their size and the run's budget."""
        assert command.step is not None
        if command.deferred is not None:
            (args, kwargs), command.deferred = command.deferred, None
        data = serde.dumps_call(args or (), kwargs or {})
        what = f"arguments of step {command.step.name!r}"
        serde.check_size(data, self.max_payload_bytes, what, call=True)
        self.budget().check(data, what)
        command.args_data = data

    def create_hook(self, token: str | None, metadata: Any) -> Hook:
        metadata_data = serde.dumps(metadata, what="metadata")
        serde.check_size(metadata_data, self.max_payload_bytes, "hook metadata")
        self.budget().check(metadata_data, "hook metadata")
        hook_id = self._next_id("hook")
        if token is None:
            token = self._derive_token(hook_id)
        elif not isinstance(token, str) or not token or len(token) > 512:
            raise ValueError(
                "a hook token must be a non-empty string of at most 512 characters, got "
                + (f"{len(token)} characters" if isinstance(token, str) else type(token).__name__)
            )
        hook = Hook(self, hook_id, token, metadata)
        self._issue(HookCommand(hook_id, hook=hook, metadata_data=metadata_data))
        return hook

    def dispose_hook(self, hook: Hook) -> None:
        if hook.disposed:
            return
        hook.feed_disposed()
        self._issue(HookDisposal(hook.hook_id, hook=hook))

    def start_child(
        self, workflow_name: str, data: bytes, on_parent_end: str, timeout: float | None = None
    ) -> tuple[str, str]:
        """Issue a child command; returns its id and the child's run id, derived from this
        run's id and the command id, so every replay (and every repeated start) addresses the
        same child run."""
        what = f"arguments of child workflow {workflow_name!r}"
        serde.check_size(data, self.max_payload_bytes, what, call=True)
        self.budget().check(data, what)
        command_id = self._next_id("child")
        child_run_id = child_run_id_for(self.run_id, command_id)
        command = ChildCommand(
            command_id,
            workflow_name=workflow_name,
            child_run_id=child_run_id,
            args_data=data,
            on_parent_end=on_parent_end,
            timeout=timeout,
            future=self.loop.create_future(),
        )
        self._issue(command)
        self._children.append(command)
        return command_id, child_run_id

    def child_result(self, command_id: str) -> asyncio.Future[Any]:
        command = self.commands.get(command_id)
        if not isinstance(command, ChildCommand) or command.future is None:
            raise ValueError(f"no child run {command_id!r} in this workflow run")
        return command.future

    def set_attributes(self, attributes: dict[str, str]) -> None:
        self._issue(AttributesCommand(self._next_id("attrs"), attributes=dict(attributes)))

    def acquire_lock(
        self, kind: str, name: str, max_holders: int, lease: float | None
    ) -> LockCommand:
        """Ask for a permit of the lock or limit `name`; await the command's `future`."""
        digest = hashlib.sha256(name.encode()).hexdigest()
        lock_id = self._next_id("lock")
        command = LockCommand(
            lock_id,
            key=f"{kind}#{digest}",
            max=max_holders,
            lease=lease,
            order=self.clock,
            future=self.loop.create_future(),
        )
        command.holder = f"{self.run_id}/{lock_id}"
        self._issue(command)
        return command

    def release_lock(self, command: LockCommand) -> asyncio.Future[Any]:
        """Give the permit back (or leave the queue); the future resolves once recorded."""
        if command.release_future is None:
            command.release_future = self.loop.create_future()
            if command.released:
                command.release_future.set_result(None)
            else:
                self.new.append(LockRelease(command.command_id, lock=command))
        return command.release_future

    def new_future(self) -> asyncio.Future[Any]:
        return self.loop.create_future()

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> asyncio.Handle:
        """Schedule `callback` on the workflow's loop at replay time `when` (a durable wait)."""
        return self.loop.call_at(when, callback, *args)

    def _issue(self, command: Command) -> None:
        if not isinstance(command, HookDisposal | LockRelease):
            self.commands[command.command_id] = command
        self.new.append(command)
        if isinstance(command, StepCommand):
            self._new_args_bytes += _pending_bytes(command)

    # --- TimerSink: asyncio timers in workflow code become durable waits -------------------

    def schedule_timer(self, handle: asyncio.TimerHandle) -> None:
        command = WaitCommand(self._next_id("wait"), handle=handle, resume_at=handle.when())
        self._timers[id(handle)] = command
        self._issue(command)

    def cancel_timer(self, handle: asyncio.TimerHandle) -> None:
        command = self._timers.pop(id(handle), None)
        if command is None:
            return
        command.cancelled = True
        self._pending_waits.pop(command.command_id, None)
        if command in self.new:
            self.new.remove(command)

    # --- determinism helpers -----------------------------------------------------------------

    def _derive(self, label: bytes) -> bytes:
        return hmac.new(self.secret, label + b"|" + self.run_id.encode(), hashlib.sha256).digest()

    def _derive_token(self, hook_id: str) -> str:
        """A hook token nobody can guess (keyed by the run's secret) that replays identically."""
        digest = self._derive(b"hook-token|" + hook_id.encode())
        return base64.urlsafe_b64encode(digest[:24]).decode()

    def discard(self) -> None:
        """Drop the suspended coroutine without running its cleanup (the run moved on or ended)."""
        for task in asyncio.all_tasks(self.loop):
            task._log_destroy_pending = False  # type: ignore[attr-defined]
        self.loop.close()


def step_id_for(secret: bytes, run_id: str, number: int) -> str:
    """The id of the `number`-th command of run `run_id` when it is a step (see
    `WorkflowInstance.command_id`); a fork (engine/fork.py) maps reused steps with it."""
    label = f"step-id|{number}".encode() + b"|" + run_id.encode()
    return _step_id(number, hmac.new(secret, label, hashlib.sha256).digest())


def _step_id(number: int, digest: bytes) -> str:
    suffix = base64.b32encode(digest[:10]).decode().lower()[:13]
    return f"step_{number}_{suffix}"


def child_run_id_for(parent_run_id: str, command_id: str) -> str:
    """The run id of the child that command `command_id` of run `parent_run_id` starts."""
    return run_id_for_key("child", f"{parent_run_id}\0{command_id}")


async def _raise(error: Exception) -> None:
    raise error


_APPLY: dict[str, Callable[[WorkflowInstance, Event, Any], None]] = {
    EventType.RUN_CREATED: WorkflowInstance._start,
    EventType.RUN_STARTED: WorkflowInstance._started,
    EventType.STEP_CREATED: WorkflowInstance._step_created,
    EventType.STEP_COMPLETED: WorkflowInstance._step_finished,
    EventType.STEP_FAILED: WorkflowInstance._step_finished,
    EventType.WAIT_CREATED: WorkflowInstance._wait_created,
    EventType.WAIT_COMPLETED: WorkflowInstance._wait_completed,
    EventType.HOOK_CREATED: WorkflowInstance._hook_created,
    EventType.HOOK_CONFLICT: WorkflowInstance._hook_created,
    EventType.HOOK_RECEIVED: WorkflowInstance._hook_received,
    EventType.HOOK_DISPOSED: WorkflowInstance._hook_disposed,
    EventType.CHILD_CREATED: WorkflowInstance._child_created,
    EventType.CHILD_ENDED: WorkflowInstance._child_ended,
    EventType.ATTRIBUTES_SET: WorkflowInstance._attributes_set,
    EventType.LOCK_REQUESTED: WorkflowInstance._lock_requested,
    EventType.LOCK_ACQUIRED: WorkflowInstance._lock_acquired,
    EventType.LOCK_RELEASED: WorkflowInstance._lock_released,
}
