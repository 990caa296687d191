"""`ReplayGuard`: refuse a signed request whose nonce this process has already accepted.

A signature is valid for `tolerance` seconds (adapters/signing.py); within that window a
captured request could be sent again. The guard remembers each accepted nonce until its
request's timestamp leaves the window, so a replay to the same process gets 401.

Limits, on purpose: the memory is per process (a replay to another instance behind a load
balancer is not caught) and bounded (`max_entries`; past it the oldest nonces are forgotten
early). Both are safe because invocations are idempotent: a replayed message records nothing
twice. The guard makes replays useless for load, not merely harmless.
"""

from __future__ import annotations

import collections
import threading
import time

DEFAULT_MAX_ENTRIES = 100_000


class ReplayGuard:
    def __init__(self, tolerance: float, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self._tolerance = tolerance
        self._max_entries = max_entries
        self._seen: collections.OrderedDict[str, float] = collections.OrderedDict()
        self._lock = threading.Lock()

    def first_use(self, nonce: str, timestamp: int, now: float | None = None) -> bool:
        """Remember `nonce`; False if it was seen within its window (a replay)."""
        now = time.time() if now is None else now
        expires = timestamp + self._tolerance
        with self._lock:
            self._forget_expired(now)
            if nonce in self._seen:
                return False
            self._seen[nonce] = expires
            while len(self._seen) > self._max_entries:
                self._seen.popitem(last=False)
            return True

    def _forget_expired(self, now: float) -> None:
        # Entries arrive roughly in time order; stop at the first live one (bounded work).
        while self._seen:
            nonce, expires = next(iter(self._seen.items()))
            if expires >= now:
                return
            del self._seen[nonce]

    def __len__(self) -> int:
        return len(self._seen)
