"""In-process notice that a run ended, so `Run.result()` is told instead of polling.

`apply_run_ending` announces every ending it applies; a `Run.result()` waiting in the same
process wakes at once and reads the run record. Only a wake-up: the record stays the truth,
and a waiter whose run ends in another process (a Lambda, another host) still finds out by
polling, backing off. Keyed by run id alone (ids are unique), from any thread or event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_waiters: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]] = {}


@contextlib.contextmanager
def run_ending(run_id: str) -> Iterator[asyncio.Future[None]]:
    """A future done when an ending of `run_id` is announced while the block runs. Enter it
    before reading the record, so an ending between that read and the wait is not missed."""
    loop = asyncio.get_running_loop()
    entry = (loop, loop.create_future())
    with _lock:
        _waiters.setdefault(run_id, set()).add(entry)
    try:
        yield entry[1]
    finally:
        with _lock:
            waiting = _waiters.get(run_id)
            if waiting is not None:
                waiting.discard(entry)
                if not waiting:
                    del _waiters[run_id]


def announce_ending(run_id: str) -> None:
    """Wake every `run_ending(run_id)` waiter of this process."""
    with _lock:
        entries = list(_waiters.get(run_id, ()))
    for loop, future in entries:
        with contextlib.suppress(RuntimeError):  # that loop has closed
            loop.call_soon_threadsafe(_resolve, future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
