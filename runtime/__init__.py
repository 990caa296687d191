"""steplane's runtime: define workflows and steps, start and inspect runs.

Everything a workflow author needs is importable from here; see API.md for the contract.
"""

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
from .errors import (
    ErrorCode,
    FatalError,
    HookConflictError,
    HookNotFoundError,
    PayloadTooLargeError,
    RetryableError,
    RunNotFoundError,
    SerializationError,
    StepFailedError,
    StepTimeoutError,
    WorkflowFailedError,
)
from .hooks import Hook, create_hook
from .host import FunctionHost
from .registry import step, workflow
from .runs import Run, get_run, resume_hook, start
from .streams import get_writable
from .timers import sleep

__all__ = [
    "ErrorCode",
    "FatalError",
    "FunctionHost",
    "Hook",
    "HookConflictError",
    "HookNotFoundError",
    "PayloadTooLargeError",
    "RetryableError",
    "Run",
    "RunNotFoundError",
    "SerializationError",
    "StepFailedError",
    "StepMetadata",
    "StepTimeoutError",
    "WorkflowFailedError",
    "WorkflowMetadata",
    "create_hook",
    "get_run",
    "get_step_metadata",
    "get_workflow_metadata",
    "get_world",
    "get_writable",
    "now",
    "random",
    "resume_hook",
    "set_world",
    "sleep",
    "start",
    "step",
    "uuid4",
    "workflow",
]
