"""Where user code is running (a workflow replay, a step attempt, or neither) and what it may ask.

Two context variables carry this: the workflow instance whose deterministic loop is running,
and the step attempt being executed. The public helpers below read them so the same function
behaves right in every place: `now()` is the replay clock inside a workflow and the host's clock
elsewhere; `random()`/`uuid4()` are seeded per run inside a workflow and ordinary elsewhere.
"""

from __future__ import annotations

import asyncio
import contextvars
import random as _random
import threading
import uuid as _uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from .definitions import StepDef
from .errors import NotInWorkflowError, WorkflowThreadError
from .hook_handle import Hook


@dataclass(frozen=True)
class WorkflowMetadata:
    run_id: str
    workflow_name: str
    started_at: datetime


@dataclass(frozen=True)
class StepMetadata:
    run_id: str
    step_id: str
    step_name: str
    attempt: int
    started_at: datetime


@dataclass(frozen=True)
class StepContext:
    """What a running step attempt can reach: its metadata, the clock, and its run's streams."""

    metadata: StepMetadata
    workflow: WorkflowMetadata
    clock_time: Callable[[], float]
    open_writer: Callable[[str | None], Any]


class ReplayingWorkflow(Protocol):
    """What the public API asks of the workflow replaying in this task: its identity and
    replay clock, deterministic randomness, and the durable calls (steps, timers, hooks).
    The engine's `WorkflowInstance` (runtime/engine/instance.py) is the implementation."""

    run_id: str
    metadata: WorkflowMetadata
    clock: float
    rng: _random.Random
    thread_violation: str | None

    def new_future(self) -> asyncio.Future[Any]: ...

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> asyncio.Handle: ...

    def call_step(
        self, step: StepDef, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> asyncio.Future[Any]: ...

    def create_hook(self, token: str | None, metadata: Any) -> Hook: ...

    def acquire_lock(self, kind: str, name: str, max_holders: int, lease: float | None) -> Any:
        """A permit request whose `future` resolves with the fence once it is held."""

    def release_lock(self, command: Any) -> asyncio.Future[Any]: ...


_instance_var: ContextVar[ReplayingWorkflow | None] = ContextVar("steplane_instance", default=None)
_step_var: ContextVar[StepContext | None] = ContextVar("steplane_step", default=None)


def current_instance() -> ReplayingWorkflow | None:
    """The workflow instance replaying in this task, or None outside workflow code."""
    return _instance_var.get()


def current_step() -> StepContext | None:
    return _step_var.get()


def workflow_context(instance: ReplayingWorkflow) -> contextvars.Context:
    """A copy of the current context in which `instance`'s workflow code runs (no step)."""
    return _entered(instance, None)


def step_context(step: StepContext) -> contextvars.Context:
    """A copy of the current context in which one step attempt runs (outside any workflow)."""
    return _entered(None, step)


def _entered(instance: ReplayingWorkflow | None, step: StepContext | None) -> contextvars.Context:
    context = contextvars.copy_context()
    context.run(_instance_var.set, instance)
    context.run(_step_var.set, step)
    return context


# Thread id -> (instance whose workflow code runs there now, threads alive when it started).
_slices: dict[int, tuple[ReplayingWorkflow, set[threading.Thread]]] = {}


@contextmanager
def workflow_slice(instance: ReplayingWorkflow) -> Iterator[None]:
    """Workflow code of `instance` runs on this thread inside the block. Remembering the threads
    alive at its start tells a thread the workflow code started (which inherits no context, so
    a step called there would be a plain call) from the process's other threads."""
    me = threading.get_ident()
    _slices[me] = (instance, set(threading.enumerate()))
    try:
        yield
    finally:
        _slices.pop(me, None)


def check_step_thread(step_name: str, instance: ReplayingWorkflow | None) -> None:
    """Refuse a step call made off the workflow's own thread: from a thread the workflow code
    started, or from another thread that copied its context. Such a call would either return
    an un-awaited coroutine or touch the replay loop from a foreign thread. The run is marked
    so that it fails with this message too, even if the workflow code swallows the error."""
    me = threading.get_ident()
    running = _slices.get(me)
    if instance is not None:
        if running is not None and running[0] is instance:
            return
        culprit = instance
    elif _step_var.get() is not None or not _slices:
        return  # a plain call from a step, or from code outside any workflow
    else:
        thread = threading.current_thread()
        culprits = [i for tid, (i, before) in _slices.items() if tid != me and thread not in before]
        if not culprits:
            return
        culprit = culprits[0]
    message = (
        f"step {step_name!r} was called from thread {threading.current_thread().name!r}, not "
        f"from the task of workflow run {culprit.run_id}: steps must be called from the "
        "workflow's own task (its thread); await the step in the workflow, or move the threaded "
        "code into a @step"
    )
    culprit.thread_violation = message
    raise WorkflowThreadError(message)


def utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


def get_step_metadata() -> StepMetadata:
    """Metadata of the running step attempt; `step_id` is stable across attempts."""
    step = _step_var.get()
    if step is None:
        raise NotInWorkflowError("get_step_metadata() works only inside a running @step")
    return step.metadata


def get_workflow_metadata() -> WorkflowMetadata:
    """Metadata of the run the calling workflow or step belongs to."""
    instance = _instance_var.get()
    if instance is not None:
        return instance.metadata
    step = _step_var.get()
    if step is not None:
        return step.workflow
    raise NotInWorkflowError("get_workflow_metadata() works only inside a workflow or a step")


def now() -> datetime:
    """Current time (aware, UTC). In a workflow: the time of the last recorded event, so every
    replay sees the same value; in a step: the host's (possibly virtual) clock."""
    instance = _instance_var.get()
    if instance is not None:
        return utc(instance.clock)
    step = _step_var.get()
    if step is not None:
        return utc(step.clock_time())
    return datetime.now(UTC)


def random() -> float:
    """A float in [0, 1): deterministic per run inside a workflow, ordinary elsewhere."""
    instance = _instance_var.get()
    return instance.rng.random() if instance is not None else _random.random()


def uuid4() -> _uuid.UUID:
    """A version-4 UUID: deterministic per run inside a workflow, ordinary elsewhere."""
    instance = _instance_var.get()
    if instance is None:
        return _uuid.uuid4()
    return _uuid.UUID(int=instance.rng.getrandbits(128), version=4)
