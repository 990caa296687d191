"""In-process notice that a run ended, so `Run.result()` is told instead of polling.

`apply_run_ending` announces every ending it applies; a `Run.result()` waiting in the same
process wakes at once and reads the run record. Only a wake-up: the record stays the truth,
and a waiter whose run ends in another process (a Lambda, another host) still finds out by
polling, backing off. Keyed by run id alone (ids are unique), from any thread or event loop.

The last `REMEMBERED` endings announced are remembered, so a `result()` that starts waiting
after its run ended here is told at once too (a bounded set: older endings are found in the
record, as those of other processes are). Such a late notice is only a hint to read the record
now: ids are unique within a World, not across the Worlds of one process (an idempotency key
derives the same id in each).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

REMEMBERED = 1024

_lock = threading.Lock()
_waiters: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Future[bool]]]] = {}
_ended: collections.OrderedDict[str, None] = collections.OrderedDict()
_listeners: list[Callable[[str, Any], None]] = []


@contextlib.contextmanager
def run_ending(run_id: str, *, remembered: bool = False) -> Iterator[asyncio.Future[bool]]:
    """A future done when an ending of `run_id` is announced while the block runs (result
    True). Enter it before reading the record, so an ending between that read and the wait is
    not missed. `remembered`: done at once (result False) if the run's ending was announced
    before, among the last `REMEMBERED` (a hint: read the record)."""
    loop = asyncio.get_running_loop()
    entry: tuple[asyncio.AbstractEventLoop, asyncio.Future[bool]] = (loop, loop.create_future())
    with _lock:
        _waiters.setdefault(run_id, set()).add(entry)
        if remembered and run_id in _ended:
            entry[1].set_result(False)
    try:
        yield entry[1]
    finally:
        with _lock:
            waiting = _waiters.get(run_id)
            if waiting is not None:
                waiting.discard(entry)
                if not waiting:
                    del _waiters[run_id]


def listen(listener: Callable[[str, Any], None]) -> Callable[[], None]:
    """Call `listener(run_id, world)` for every ending announced in this process (retention
    tracks the order in which runs end, runtime/engine/retention.py); returns the function
    that stops it. Called on the announcing thread; it must be quick and must not raise."""
    with _lock:
        _listeners.append(listener)

    def stop() -> None:
        with _lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return stop


def announce_ending(run_id: str, world: Any = None) -> None:
    """Wake every `run_ending(run_id)` waiter of this process; tell the listeners (with the
    World the run ended in)."""
    with _lock:
        listeners = list(_listeners)
        entries = list(_waiters.get(run_id, ()))
        _ended[run_id] = None
        _ended.move_to_end(run_id)
        while len(_ended) > REMEMBERED:
            _ended.popitem(last=False)
    for listener in listeners:
        listener(run_id, world)
    for loop, future in entries:
        with contextlib.suppress(RuntimeError):  # that loop has closed
            loop.call_soon_threadsafe(_resolve, future)


def remembered_endings() -> int:
    """How many endings are remembered (bounded by `REMEMBERED`; for tests)."""
    with _lock:
        return len(_ended)


def _resolve(future: asyncio.Future[bool]) -> None:
    if not future.done():
        future.set_result(True)
