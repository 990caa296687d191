"""`sleep()`: a durable pause inside a workflow, an ordinary one anywhere else.

Inside a workflow the sleep is an asyncio timer on the deterministic loop, which the replay
engine records as a durable wait, so `sleep("2h")`, `asyncio.sleep(7200)` and
`asyncio.timeout(...)` all share one mechanism and survive restarts.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from typing import Any

from .context import current_instance
from .durations import resolve_wake_time

Duration = str | int | float | timedelta | datetime


def sleep(duration: Duration) -> Any:
    """Pause for a duration ("250ms", "10s", "5m", "2h", "3d", seconds, timedelta) or until an
    aware datetime. Await the result."""
    instance = current_instance()
    if instance is None:
        started = time.time()
        return asyncio.sleep(max(0.0, resolve_wake_time(duration, started) - started))
    wake_at = resolve_wake_time(duration, instance.clock)
    future = instance.new_future()
    handle = instance.call_at(wake_at, _wake, future)
    future.add_done_callback(lambda done: handle.cancel() if done.cancelled() else None)
    return future


def _wake(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_result(None)
