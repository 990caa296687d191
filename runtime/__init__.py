"""steplane's runtime: define workflows and steps, start and inspect runs.

Everything a workflow author needs is importable from here; see docs/api.md for the contract.
"""

import steplane  # noqa: F401  first: a bare-name import of this package becomes an alias

from .attributes import set_attributes
from .children import ChildRun, start_child
from .client import Client, fork, get_run, resume_hook, start
from .config import get_world, set_world
from .context import (
    StepMetadata,
    WorkflowMetadata,
    get_step_metadata,
    get_workflow_metadata,
    now,
    random,
    uuid4,
)
from .definitions import Limit, Rate
from .engine.host import FunctionHost
from .errors import (
    CorruptedDataError,
    ErrorCode,
    FatalError,
    HookConflictError,
    HookNotFoundError,
    PayloadTooLargeError,
    RetryableError,
    RunNotFoundError,
    RunTooLargeError,
    SerializationError,
    StepFailedError,
    StepTimeoutError,
    WorkflowFailedError,
)
from .hook_handle import Hook
from .hooks import create_hook
from .locks import lock
from .registry import step, workflow
from .runs import Run
from .schedules import schedule
from .streams import get_writable
from .timers import sleep
from .type_registry import register_type, serializable

__all__ = [
    "ChildRun",
    "Client",
    "CorruptedDataError",
    "ErrorCode",
    "FatalError",
    "FunctionHost",
    "Hook",
    "HookConflictError",
    "HookNotFoundError",
    "Limit",
    "PayloadTooLargeError",
    "Rate",
    "RetryableError",
    "Run",
    "RunNotFoundError",
    "RunTooLargeError",
    "SerializationError",
    "StepFailedError",
    "StepMetadata",
    "StepTimeoutError",
    "WorkflowFailedError",
    "WorkflowMetadata",
    "create_hook",
    "fork",
    "get_run",
    "get_step_metadata",
    "get_workflow_metadata",
    "get_world",
    "get_writable",
    "lock",
    "now",
    "random",
    "register_type",
    "resume_hook",
    "schedule",
    "serializable",
    "set_attributes",
    "set_world",
    "sleep",
    "start",
    "start_child",
    "step",
    "uuid4",
    "workflow",
]
