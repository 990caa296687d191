"""The AWS log's per-process cache: what this process has seen of each run's log (batch
boundaries, the end) and, within a byte budget, the decoded batches themselves.

Everything here stays true once learned, because a log only grows and its items never change:
a batch at position p means positions < p are written; a terminal batch ending at p (or a
seal item at p, written by earlier versions) means the log ends at p.
So the cache needs no invalidation, only bounds. It is what lets the log answer a warm read
with one GetItem at the known end (docs/invariants.md #2), and a queued step's read from the
middle of a fan-out batch without a Query.
"""

from __future__ import annotations

import bisect
import collections
import threading
import time
from dataclasses import dataclass, field

from steplane.runtime.engine.events import Event

DEFAULT_CACHE_BYTES = 64 * 1024 * 1024
_MAX_RUNS = 4096
_MAX_STARTS_PER_RUN = 50_000
_EVENT_OVERHEAD = 640
"""Bytes a decoded Event holds beyond its payload (object, attrs dict, strings): about 650 as
tracemalloc measures a no-op step's events (bench/rss_bench.py), so the budget is real memory."""


@dataclass
class _RunLogCache:
    end: int = 0  # a batch boundary; every earlier position is written
    sealed: bool = False  # the log ends at `end` for good: the batch before it is terminal
    starts: list[int] = field(default_factory=list)
    counts: dict[int, int] = field(default_factory=dict)
    batches: dict[int, list[Event]] = field(default_factory=dict)
    cached_bytes: int = 0
    confirmed_at: float = float("-inf")  # time.monotonic() when `end` was last seen the end
    compacted: int = 0  # where the run's compacted object ends, as this process last saw it

    def covering(self, position: int) -> int | None:
        index = bisect.bisect_right(self.starts, position) - 1
        if index < 0:
            return None
        start = self.starts[index]
        return start if start + self.counts[start] > position else None


class LogCache:
    """Bounded (runs, boundaries per run, cached bytes), shared by the client pool's threads."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self._lock = threading.Lock()
        self._logs: collections.OrderedDict[str, _RunLogCache] = collections.OrderedDict()
        self._max_bytes = max_bytes
        self._bytes = 0

    # --- questions --------------------------------------------------------------------------

    def facts(self, run_id: str) -> tuple[int, bool] | None:
        """(known end, sealed there), or None for a log never seen."""
        with self._lock:
            log = self._logs.get(run_id)
            return None if log is None else (log.end, log.sealed)

    def age(self, run_id: str) -> tuple[int, bool, float] | None:
        """(known end, sealed, seconds since this process last saw that end was the end)."""
        with self._lock:
            log = self._logs.get(run_id)
            if log is None:
                return None
            return log.end, log.sealed, time.monotonic() - log.confirmed_at

    def read_from(self, run_id: str, start: int) -> int | None:
        """A batch start or the known end from which a read of `start` can go forward:
        the batch holding `start`, or the end when `start` is at or past it."""
        with self._lock:
            log = self._logs.get(run_id)
            if log is None:
                return None
            self._logs.move_to_end(run_id)
            return log.end if start >= log.end else log.covering(start)

    def cached(self, run_id: str, start: int, since: int = 0) -> list[Event] | None:
        """The batch at `start` if it is in memory, from position `since` on (fresh copies:
        callers may edit attrs; a read from inside a large batch copies only what it wants)."""
        with self._lock:
            log = self._logs.get(run_id)
            batch = log.batches.get(start) if log is not None else None
        if batch is None:
            return None
        skip = max(0, since - start)
        return [e.copied() for e in batch[skip:]]

    def prefix(self, run_id: str, end: int) -> list[tuple[int, list[Event]]] | None:
        """Every batch from position 0 up to `end` (a boundary), when all are in memory; else
        None. The cached lists themselves, not copies: for encoding only, never to edit."""
        with self._lock:
            log = self._logs.get(run_id)
            if log is None:
                return None
            found: list[tuple[int, list[Event]]] = []
            position = 0
            while position < end:
                batch = log.batches.get(position)
                if batch is None:
                    return None
                found.append((position, batch))
                position += len(batch)
            return found if position == end else None

    def compacted(self, run_id: str) -> int:
        """Where the run's compacted object ends as far as this process knows (0: unknown)."""
        with self._lock:
            log = self._logs.get(run_id)
            return 0 if log is None else log.compacted

    # --- learning ---------------------------------------------------------------------------

    def note_compacted(self, run_id: str, end: int) -> None:
        """The run's compacted object reaches `end` (read, written, or given up until then)."""
        with self._lock:
            log = self._log(run_id)
            log.compacted = max(log.compacted, end)

    def batch(self, run_id: str, start: int, events: list[Event]) -> None:
        """A batch sits at `start` (so every position before it is written too)."""
        self.boundary(run_id, start, len(events), terminal=bool(events) and events[-1].is_terminal)
        size = _size(events)
        with self._lock:
            log = self._logs.get(run_id)
            if log is None or start not in log.counts or start in log.batches:
                return
            if size <= self._max_bytes // 8:
                log.batches[start] = events
                log.cached_bytes += size
                self._bytes += size
                self._trim(keep=run_id)

    def boundary(self, run_id: str, start: int, count: int, *, terminal: bool = False) -> None:
        """A batch of `count` events sits at `start` (its contents unknown here); `terminal`:
        its last event ends the run, so the log ends after it for good (docs/invariants.md #1)."""
        with self._lock:
            log = self._log(run_id)
            if start not in log.counts:
                bisect.insort(log.starts, start)
                log.counts[start] = count
                if len(log.starts) > _MAX_STARTS_PER_RUN:
                    self._drop_start(log, log.starts[0])
            if start + count > log.end:
                log.end, log.sealed = start + count, terminal
            elif start + count == log.end and terminal:
                log.sealed = True

    def end(self, run_id: str, end: int, *, sealed: bool) -> None:
        """The log is written up to `end`; `sealed`: it ends there for good."""
        with self._lock:
            log = self._log(run_id)
            if end > log.end or (end == log.end and sealed):
                log.end, log.sealed = end, sealed

    def confirm(self, run_id: str, end: int) -> None:
        """`end` was the log's end just now (this process wrote the last batch, or found
        nothing after it)."""
        with self._lock:
            log = self._logs.get(run_id)
            if log is not None and log.end == end:
                log.confirmed_at = time.monotonic()

    def forget(self, run_id: str) -> None:
        with self._lock:
            log = self._logs.pop(run_id, None)
            if log is not None:
                self._bytes -= log.cached_bytes

    # --- bounds -----------------------------------------------------------------------------

    def _log(self, run_id: str) -> _RunLogCache:
        log = self._logs.get(run_id)
        if log is None:
            log = self._logs[run_id] = _RunLogCache()
            while len(self._logs) > _MAX_RUNS:
                _, evicted = self._logs.popitem(last=False)
                self._bytes -= evicted.cached_bytes
        self._logs.move_to_end(run_id)
        return log

    def _drop_start(self, log: _RunLogCache, start: int) -> None:
        log.starts.remove(start)
        del log.counts[start]
        batch = log.batches.pop(start, None)
        if batch is not None:
            size = _size(batch)
            log.cached_bytes -= size
            self._bytes -= size

    def _trim(self, keep: str) -> None:
        """Drop cached batches of the least recently used logs until within the budget
        (boundaries stay: they are small)."""
        for run_id, log in self._logs.items():
            if self._bytes <= self._max_bytes:
                return
            if run_id == keep or not log.batches:
                continue
            self._bytes -= log.cached_bytes
            log.batches.clear()
            log.cached_bytes = 0
        if self._bytes > self._max_bytes:  # one log alone is over: drop its oldest batches
            log = self._logs[keep]
            for start in sorted(log.batches):
                if self._bytes <= self._max_bytes:
                    break
                batch = log.batches.pop(start)
                size = _size(batch)
                log.cached_bytes -= size
                self._bytes -= size


def _size(events: list[Event]) -> int:
    return sum(len(event.payload or b"") + _EVENT_OVERHEAD for event in events)
