"""Where user code is running (a workflow replay, a step attempt, or neither) and what it may ask.

Two context variables carry this: the workflow instance whose deterministic loop is running,
and the step attempt being executed. The public helpers below read them so the same function
behaves right in every place: `now()` is the replay clock inside a workflow and the host's clock
elsewhere; `random()`/`uuid4()` are seeded per run inside a workflow and ordinary elsewhere.
"""

from __future__ import annotations

import random as _random
import uuid as _uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .errors import NotInWorkflowError

if TYPE_CHECKING:
    from .instance import WorkflowInstance


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
