"""One process-wide lock around every call into an in-process moto.

`moto.mock_aws()` answers boto3 calls inside the calling thread, on backends (plain dicts and
lists) that are not thread-safe. The AWS World calls boto3 from a thread pool, steps in their
own threads call it too, and users call the raw clients `emu.client(...)` hands out: without
a lock, two conditional PutItems on one key could both succeed (docs/invariants.md #1 broken;
334 of 500 rounds with a short thread-switch interval), a Query could raise `dictionary
changed size during iteration`, and a fan-out could lose a step's events and hang.

moto's backends are process-global, so the lock is too, and it sits where every mocked call
goes through, whichever session or client made it: moto's one `BotocoreStubber` (registered
in botocore's built-in handlers when moto is imported), whose `process_request` runs the
backend. Botocore's own work (signing, parsing, retries with their backoff sleeps) stays
outside the lock. A moto server or real AWS never reaches the stubber, so they stay fully
parallel. The lock is reentrant in case a backend calls another through boto3.

What the lock cannot cover: a call that waits inside moto. SQS ReceiveMessage with
WaitTimeSeconds > 0 polls inside the backend; under the lock it would stall every other call
for the whole wait, so the emulator's queue never long-polls (see queue.py).
"""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

lock = threading.RLock()
"""Held by every call into an in-process moto, and by whatever else touches its backends
(stopping a mock resets them; `embedded.trim` edits them)."""

_install_lock = threading.Lock()


def _stubber() -> Any:
    """moto's request stubber, or None when moto is not imported (nothing is mocked then)."""
    if "moto" not in sys.modules:
        return None
    from moto.core.models import botocore_stubber

    return botocore_stubber


def serialize_moto() -> None:
    """Make every in-process moto call of this process take `lock` (idempotent, cheap)."""
    stubber = _stubber()
    if stubber is None:
        return
    with _install_lock:
        process = stubber.process_request
        if getattr(process, "serialized_by_steplane", False):
            return

        @functools.wraps(process)
        def serialized(request: Any) -> Any:
            with lock:
                return process(request)

        serialized.serialized_by_steplane = True  # type: ignore[attr-defined]
        stubber.process_request = serialized


def locked(fn: Callable[..., T]) -> Callable[..., T]:
    """`fn` run under `lock` (for code that touches moto's backends without boto3)."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> T:
        with lock:
            return fn(*args, **kwargs)

    return run
