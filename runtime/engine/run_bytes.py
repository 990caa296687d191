"""The per-run payload budget (`Limits.max_run_bytes`, 2 GB by default), kept without reads.

What counts: every sealed payload the run's log stores, at its stored size (inline ciphertext,
or the `blob_size` of an offloaded one): the run's arguments, step arguments, step results
and errors, hook metadata and payloads, the run's result or failure message. Stream chunks do
not: they live in the stream store, outside the log, written by steps concurrently and
independently of the log's conditional appends (each chunk is still capped per payload).

The running total travels in the log itself: the last event of every appended batch carries
`run_bytes`, the run's total through that event, computed by the writer from the event just
before the batch (the conditional append guarantees that is the real predecessor). Any reader
that has the log's last batch (the workflow's replay, a step invocation reading from its
step's position, a hook delivery) knows the total without reading anything more. Logs
written before this attribute existed count from the first batch that carries it, plus what
the reader saw before.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from ..errors import RunTooLargeError
from .codec import sealed_value
from .crypto import SEAL_OVERHEAD
from .events import Event

RUN_BYTES = "run_bytes"


def stored_bytes(event: Event) -> int:
    """How many payload bytes `event` stores (inline or in the blob store)."""
    sealed = sealed_value(event)
    return 0 if sealed is None else sealed.size


def total_after(events: Iterable[Event], total: int = 0) -> int:
    """The run's total after `events`, which follow a point where it was `total`."""
    for event in events:
        stamped = event.attrs.get(RUN_BYTES)
        total = stamped if isinstance(stamped, int) else total + stored_bytes(event)
    return total


def stamp(run_id: str, batch: list[Event], total: int, limit: int | None) -> list[Event]:
    """`batch` with the run's new total on its last event; RunTooLargeError, and nothing to
    write, when `limit` is given and the total would pass it (ending a run is never refused)."""
    after = total + sum(stored_bytes(e) for e in batch)
    if limit is not None and after > limit:
        raise RunTooLargeError(run_id, after, limit)
    last = batch[-1]
    return [*batch[:-1], replace(last, attrs={**last.attrs, RUN_BYTES: after})]


def budget_after(run_id: str, batch: Iterable[Event], run_bytes: int, limit: int) -> RunBudget:
    """What a run holding `run_bytes` may still store once `batch` (not yet recorded) is."""
    return RunBudget(run_id, total_after(batch, run_bytes), limit)


@dataclass(frozen=True)
class RunBudget:
    """What a run may still store, for checks made before a value is sealed or written."""

    run_id: str
    used: int
    limit: int

    def check(self, data: bytes, what: str) -> None:
        """Refuse serialized `data` whose sealed form would not fit in the run's budget."""
        total = self.used + len(data) + SEAL_OVERHEAD
        if total > self.limit:
            raise RunTooLargeError(self.run_id, total, self.limit, what)
