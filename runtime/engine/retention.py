"""Retention: purge the data of old ended runs, so a long-lived World stays bounded.

A World keeps everything a run wrote until something deletes it; moto (what `steplane dev`
runs on) and the memory World keep it in this process's memory, so a dev session that ran
thousands of runs grows without bound. `sweep` keeps the `keep` newest ended runs (by
creation, the order `runs list` shows) and every live one, and purges the older ended runs'
data through the World (`World.purge_run`: log, payloads, streams, record, listing and
attribute entries). The emulator sweeps every few seconds (`Emulator(retain_runs=N)`,
`steplane dev --retain-runs N`).

What is never purged, and why:

- a live run (not ended): its invocations read and write all of it;
- an ended child whose parent is live: the parent's recovery reads the child's record and log
  to learn an ending it may have missed (runtime/engine/recovery.py);
- hook tokens: none are left to an ended run (`apply_run_ending` releases them before it
  writes the terminal status, so a terminal record means its tokens are free); coordination
  items (locks, limits, rate slots, debounces, schedules) are keyed by names, not runs.

Racing invocations: a message that arrives after its run was purged finds no record and no
log. The host drops it with a log line (runtime/engine/give_up.py: `RunNotFoundError` is a
permanent rejection), and no path writes to it again: an append at the head of an empty log
first checks that the run still has a live record (`lifecycle.check_not_purged`), so a late
duplicate never resurrects a purged run's log. A purge takes the run's lock in its host, so
it never interleaves with a workflow invocation of the run there.

What a purge forgets: a purged run is gone from listings, the UI and `get_run`; a `start()`
with the idempotency key of a purged run starts a new run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from ..world import RunRecord, World

log = logging.getLogger("steplane.retention")

PAGE = 1000
"""Run records listed per call while a sweep looks for the ended runs beyond `keep`."""

MAX_PURGES_PER_SWEEP = 500
"""Purges one sweep makes at most (the oldest first); the next sweep takes the rest."""


@dataclass
class SweepResult:
    """What one sweep saw and did."""

    ended: int = 0
    """Ended runs listed (kept and beyond `keep`)."""
    purged: int = 0
    skipped: int = 0
    """Ended runs beyond `keep` left for now: a child whose parent is live, or a purge that
    failed (logged; the next sweep tries again)."""


async def purgeable(world: World, record: RunRecord) -> bool:
    """Whether an ended run's data may go: it has ended and it is no live parent's child."""
    if not record.status.is_terminal:
        return False
    if record.parent_run_id is None:
        return True
    parent = await world.runs.get(record.parent_run_id)
    return parent is None or parent.status.is_terminal


async def ended_beyond(world: World, keep: int) -> tuple[int, list[RunRecord]]:
    """How many ended runs the World lists, and those after the `keep` newest, oldest first."""
    ended = 0
    beyond: list[RunRecord] = []
    cursor: str | None = None
    while True:
        page = await world.runs.list(limit=PAGE, cursor=cursor)
        for record in page.items:
            if record.status.is_terminal:
                ended += 1
                if ended > keep:
                    beyond.append(record)
        cursor = page.next_cursor
        if cursor is None:
            break
    beyond.reverse()
    return ended, beyond


class Purger(Protocol):
    """What a sweep purges through: a function host (`FunctionHost.purge_run`, which holds
    the run's lock and forgets its warm state)."""

    async def purge_run(self, run_id: str) -> bool:
        """Purge an ended run's data; False when it is live or gone."""


async def sweep(
    world: World, purger: Purger, keep: int, *, max_purges: int = MAX_PURGES_PER_SWEEP
) -> SweepResult:
    """Purge the ended runs beyond the `keep` newest, oldest first, at most `max_purges`."""
    if keep < 0:
        raise ValueError(f"keep must not be negative, got {keep}")
    ended, beyond = await ended_beyond(world, keep)
    result = SweepResult(ended=ended)
    for record in beyond:
        if result.purged >= max_purges:
            break
        try:
            if await purgeable(world, record) and await purger.purge_run(record.run_id):
                result.purged += 1
                continue
        except Exception as error:  # one run's failure never stops the sweep
            name = type(error).__name__
            log.warning("could not purge run %s: %s: %s", record.run_id, name, error)
        result.skipped += 1
    if result.purged:
        log.info("retention: purged %d ended runs (kept the %d newest)", result.purged, keep)
    return result
