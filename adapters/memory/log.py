"""The in-memory event log: one list of events per run, guarded by a lock.

The lock stands in for DynamoDB's conditional write (docs/invariants.md #1): the position check
and the write happen as one step, so of several writers racing on one position exactly one wins.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from dataclasses import replace

from steplane.runtime.engine.events import Event
from steplane.runtime.errors import AppendConflictError, RunTerminalError
from steplane.runtime.world import check_append


class MemoryEventLog:
    """Append-only event lists keyed by run id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logs: dict[str, list[Event]] = {}

    async def append(self, run_id: str, position: int, events: Sequence[Event]) -> None:
        """Store `events` at `position`, `position + 1`, ... all at once or not at all."""
        check_append(run_id, position, events)
        # Copy outside the lock: attrs are caller-owned and may be mutated after we return.
        stored = [_stored_copy(event, position + offset) for offset, event in enumerate(events)]
        with self._lock:
            log = self._logs.setdefault(run_id, [])
            newer = log[position:]
            if not newer:
                if position > len(log):
                    raise ValueError(
                        f"run {run_id}: position {position} skips past the end of the log "
                        f"(length {len(log)})"
                    )
                if log and log[-1].is_terminal:
                    raise RunTerminalError(run_id)
                log.extend(stored)
        if newer:  # what beat the writer, so that it need not read it (AppendConflictError)
            raise AppendConflictError(run_id, position, newer=_copies(newer))

    async def read(self, run_id: str, start: int = 0) -> list[Event]:
        """Events at positions >= `start` (an unknown run has none)."""
        with self._lock:
            log = self._logs.get(run_id)
            tail = log[max(start, 0) :] if log else []
        return _copies(tail)

    def delete_run(self, run_id: str) -> int:
        """Forget the run's log (retention, `MemoryWorld.purge_run`); how many events."""
        with self._lock:
            return len(self._logs.pop(run_id, ()))

    def known(self, run_id: str, start: int, max_age: float) -> tuple[list[Event], float] | None:
        """No view without a read: reading is as cheap here (runtime.world.EventLog.known)."""
        return None


def _copies(events: list[Event]) -> list[Event]:
    """Events are frozen; a fresh attrs dict keeps callers from editing what we store."""
    return [event.copied() if event.attrs else event for event in events]


def _stored_copy(event: Event, seq: int) -> Event:
    attrs = copy.deepcopy(dict(event.attrs)) if event.attrs else {}
    return replace(event, attrs=attrs, seq=seq)
