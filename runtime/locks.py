"""`lock()`: a durable lock across runs, held by workflow code.

    async with lock(f"account:{account}") as held:
        await debit(account, cents)          # one run at a time per account
        held.fence                           # grows with every grant: pass it downstream

Waiting costs no compute: the run records `lock_requested` and suspends; the run that frees
the lock hands it over in the same conditional write and wakes the next waiter (in the order
they asked, which for a lock taken first thing is start order). A lease bounds how long a
holder that stops making progress keeps it; a run that ends gives back whatever it holds.
The design, the failure model and what one key sustains: docs/flow-control.md.

`Limit` and `Rate` (runtime/definitions.py) are the same machinery on `@workflow` and `@step`.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any

from .context import current_instance
from .definitions import Limit, Rate, positive_seconds
from .errors import NotInWorkflowError

DEFAULT_LEASE = "5m"

__all__ = ["DEFAULT_LEASE", "Limit", "Lock", "Rate", "lock"]


class Lock:
    """What `lock()` returns: use it with `async with`, in workflow code only."""

    def __init__(self, name: str, lease: Any = DEFAULT_LEASE, limit: int = 1) -> None:
        if not isinstance(name, str) or not name or len(name) > 1024:
            raise ValueError("a lock name must be a non-empty string of at most 1024 characters")
        self.name = name
        self.lease = None if lease is None else positive_seconds("lock(lease=...)", lease)
        self.limit = limit
        self.fence: int | None = None
        """The fencing token of this hold: larger for every later holder of the same lock."""
        self._command: Any = None

    async def __aenter__(self) -> Lock:
        instance = current_instance()
        if instance is None:
            raise NotInWorkflowError("lock() works only inside a @workflow")
        if self._command is not None:
            raise RuntimeError(f"lock {self.name!r} is already entered; make a new lock()")
        self._command = instance.acquire_lock("lock", self.name, self.limit, self.lease)
        try:
            self.fence = await self._command.future
        except asyncio.CancelledError:  # e.g. asyncio.timeout(): leave the queue
            instance.release_lock(self._command)
            raise
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        instance = current_instance()
        if instance is None or self._command is None or isinstance(error, GeneratorExit):
            return  # the suspended workflow is being dropped, not run: nothing to record
        await instance.release_lock(self._command)


def lock(name: str, *, lease: Any = DEFAULT_LEASE) -> Lock:
    """A durable lock called `name` (any string; stored only as a digest). `lease` (a
    duration, default 5 minutes; None: until released or the run ends) is the longest the
    critical section may hold it: past it the next waiter may take it over."""
    return Lock(name, lease)
