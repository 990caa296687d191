"""Where user code is running (a workflow replay, a step attempt, or neither) and what it may ask.

Two context variables carry this: the workflow instance whose deterministic loop is running,
and the step attempt being executed. The public helpers below read them so the same function
behaves right in every place: `now()` is the replay clock inside a workflow and the host's clock
elsewhere; `random()`/`uuid4()` are seeded per run inside a workflow and ordinary elsewhere.
"""

from __future__ import annotations

import random as _random
import threading
import uuid as _uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .errors import NotInWorkflowError, WorkflowThreadError

if TYPE_CHECKING:
    from .engine.instance import WorkflowInstance


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


_instance_var: ContextVar[WorkflowInstance | None] = ContextVar("steplane_instance", default=None)
_step_var: ContextVar[StepContext | None] = ContextVar("steplane_step", default=None)


def current_instance() -> WorkflowInstance | None:
    """The workflow instance replaying in this task, or None outside workflow code."""
    return _instance_var.get()


def current_step() -> StepContext | None:
    return _step_var.get()


# Thread id -> (instance whose workflow code runs there now, threads alive when it started).
_slices: dict[int, tuple[WorkflowInstance, set[threading.Thread]]] = {}


@contextmanager
def workflow_slice(instance: WorkflowInstance) -> Iterator[None]:
    """Workflow code of `instance` runs on this thread inside the block. Remembering the threads
    alive at its start tells a thread the workflow code started (which inherits no context, so
    a step called there would be a plain call) from the process's other threads."""
    me = threading.get_ident()
    _slices[me] = (instance, set(threading.enumerate()))
    try:
        yield
    finally:
        _slices.pop(me, None)


def check_step_thread(step_name: str, instance: WorkflowInstance | None) -> None:
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
