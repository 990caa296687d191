"""Which runs a run's ending touches: its parent (to record `child_ended` there and wake it)
and the children it must cancel (`start_child(..., cancel_with_parent=True)`).

Read from what the caller already holds, never with an extra read on the hot path: the
`run_created` attributes (`parent_run_id`, `parent_command`) and the `child_created` /
`child_ended` events of the run's own log, or the replaying instance's commands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .events import Event, EventType


@dataclass
class RunLinks:
    parent_run_id: str | None = None
    parent_command: str | None = None
    """The parent's `child_created` command that started this run (None: not a child)."""
    cancel: list[str] = field(default_factory=list)
    """Children started with cancel_with_parent=True and not recorded as ended."""

    @property
    def empty(self) -> bool:
        return self.parent_command is None and not self.cancel


def parent_of(created_attrs: dict[str, Any]) -> tuple[str | None, str | None]:
    parent, command = created_attrs.get("parent_run_id"), created_attrs.get("parent_command")
    if isinstance(parent, str) and isinstance(command, str):
        return parent, command
    return None, None


def links_from_log(log: list[Event]) -> RunLinks:
    """The links of a run whose (whole) log is `log`."""
    if not log or log[0].type != EventType.RUN_CREATED:
        return RunLinks()
    parent, command = parent_of(dict(log[0].attrs))
    started: dict[str, str] = {}
    for event in log:
        cid = event.correlation_id or ""
        if event.type == EventType.CHILD_CREATED and event.attrs.get("on_parent_end") == "cancel":
            started[cid] = str(event.attrs["child_run_id"])
        elif event.type == EventType.CHILD_ENDED:
            started.pop(cid, None)
    return RunLinks(parent, command, list(started.values()))


def children_in_log(log: list[Event]) -> dict[str, tuple[str, str]]:
    """{command id: (child run id, child workflow)} of the children the log records as
    started and not as ended: what the reconciler checks for a lost ending."""
    found: dict[str, tuple[str, str]] = {}
    for event in log:
        cid = event.correlation_id or ""
        if event.type == EventType.CHILD_CREATED:
            found[cid] = (str(event.attrs["child_run_id"]), str(event.attrs["workflow_name"]))
        elif event.type == EventType.CHILD_ENDED:
            found.pop(cid, None)
    return found
