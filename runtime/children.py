"""`start_child()`: start another workflow as a child run from workflow code, and await it.

    child = await start_child(charge_card, order_id)         # recorded once, started once
    receipt = await child.result()                           # the parent suspends meanwhile

Starting is durable: the start is a command of the parent (`child_created`), the child's run
id is derived from the parent's run id and the command id, and the child is started after the
command is recorded, idempotently, so a replay or a redelivery never starts a second child.
Waiting costs nothing: the parent records nothing while it waits, so its invocation ends; the
child's ending records `child_ended` in the parent's log and wakes it (engine/lifecycle.py).
A failed or cancelled child raises `WorkflowFailedError` at `await child.result()`.
`cancel_with_parent=True` (the default) cancels the child when the parent ends first;
`start_child(wf.with_options(timeout="10m"), ...)` gives the child a run timeout.
Design: docs/flow-control-children.md.
"""

from __future__ import annotations

from typing import Any

from . import serde
from .context import current_instance
from .definitions import StartOptions
from .errors import NotInWorkflowError
from .registry import workflow_def_of


class ChildRun:
    """A child run started by this workflow: `run_id`, and `await result()`."""

    def __init__(self, driver: Any, command_id: str, run_id: str, workflow_name: str) -> None:
        self._driver = driver
        self.command_id = command_id
        self.run_id = run_id
        self.workflow_name = workflow_name

    def __repr__(self) -> str:
        return f"<ChildRun {self.run_id} of {self.workflow_name!r}>"

    async def result(self) -> Any:
        """The child's return value once it ends; `WorkflowFailedError` (`.code`, `.message`)
        if it failed (`USER_ERROR`, `TIMED_OUT`, ...) or was cancelled (`CANCELLED`)."""
        return await self._driver.child_result(self.command_id)


async def start_child(
    workflow: Any, /, *args: Any, cancel_with_parent: bool = True, **kwargs: Any
) -> ChildRun:
    """Start `workflow(*args, **kwargs)` as a child of the calling workflow run (workflow code
    only; `cancel_with_parent` is the one keyword this function keeps for itself)."""
    instance = current_instance()
    if instance is None:
        raise NotInWorkflowError(
            "start_child() works only inside a workflow; use start() everywhere else"
        )
    if not isinstance(cancel_with_parent, bool):
        raise TypeError(f"cancel_with_parent must be True or False, got {cancel_with_parent!r}")
    definition = workflow_def_of(workflow)
    timeout = None
    if isinstance(workflow, StartOptions):
        if workflow.idempotency_key is not None:
            raise ValueError(
                "start_child() takes no idempotency_key: a child's start is idempotent already "
                "(its run id is derived from the parent's run and the call)"
            )
        timeout = workflow.timeout
    definition.check_arguments(args, kwargs)
    data = serde.dumps_call(args, kwargs)
    policy = "cancel" if cancel_with_parent else "continue"
    command_id, run_id = instance.start_child(  # type: ignore[attr-defined]
        definition.name, data, policy, timeout
    )
    return ChildRun(instance, command_id, run_id, definition.name)
