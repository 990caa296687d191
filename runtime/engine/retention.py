"""Retention: purge the data of old ended runs, so a long-lived World stays bounded.

A World keeps everything a run wrote until something deletes it; moto (what `steplane dev`
runs on) and the memory World keep it in this process's memory, so a dev session that ran
thousands of runs grows without bound. `Retention` keeps the `keep` most recently ended runs
and every live one, and purges the older ended runs' data through the World
(`World.purge_run`: log, payloads, streams, record, listing and attribute entries). The
emulator sweeps every few seconds (`Emulator(retain_runs=N)`, `steplane dev --retain-runs N`).

Finding the oldest ended runs costs no listing in the common case: `Retention` learns of
every ending this process applies (`endings.listen`) and keeps their ids in the order they
ended (about 100 bytes a run, `keep` of them plus those since the last sweep). A listing of
the World's runs (on moto a Query per listing shard, each copying every matching item:
about 1 ms of CPU per run listed) is made only by the first sweep, to learn the runs that
ended before (they count as the oldest, newest created last), and every `FULL_SWEEP_EVERY`
sweeps, to catch endings this process did not apply (a `steplane runs cancel` from another
process, the host processes of `steplane dev --reload`).

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

import asyncio
import collections
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..world import RunRecord, World
from . import endings

log = logging.getLogger("steplane.retention")

PAGE = 1000
"""Run records listed per call while a full sweep looks for ended runs."""

MAX_PURGES_PER_SWEEP = 500
"""Purges one sweep makes at most (the oldest first); the next sweep takes the rest."""

PURGE_CONCURRENCY = 4
"""Purges a sweep makes at once: on moto every call waits for one lock, and a lone purge
coroutine got too few turns among the emulator's 4 workers to keep up with 18 runs/s."""

FULL_SWEEP_EVERY = 60
"""Every this many sweeps, one lists the World's runs to find endings this process missed."""


@dataclass
class SweepResult:
    """What one sweep did."""

    ended: int = 0
    """Ended runs known after the sweep (kept), beside those `held`."""
    purged: int = 0
    held: int = 0
    """Ended children of live parents, kept until their parent ends."""
    listed: bool = False
    """Whether this sweep listed the World's runs (a full sweep)."""


class Purger(Protocol):
    """What a sweep purges through: a function host (`FunctionHost.purge_run`, which holds
    the run's lock and forgets its warm state)."""

    async def purge_run(self, run_id: str) -> bool:
        """Purge an ended run's data; False when it is live or gone."""


async def live_parent(world: World, record: RunRecord) -> bool:
    """Whether the run is the child of a live parent (which may still read it)."""
    if record.parent_run_id is None:
        return False
    parent = await world.runs.get(record.parent_run_id)
    return parent is not None and not parent.status.is_terminal


async def ended_runs(world: World) -> list[str]:
    """Every ended run the World lists, oldest created first (a full sweep)."""
    ended: list[str] = []
    cursor: str | None = None
    while True:
        page = await world.runs.list(limit=PAGE, cursor=cursor)
        ended += [record.run_id for record in page.items if record.status.is_terminal]
        cursor = page.next_cursor
        if cursor is None:
            break
    ended.reverse()
    return ended


class Retention:
    """Keeps the `keep` most recently ended runs of `world`, purging older ended runs
    through `purger` when `sweep` is called. `start()` begins tracking this process's
    endings (call it before runs end; `stop()` ends it)."""

    def __init__(self, world: World, purger: Purger, keep: int) -> None:
        if keep < 1:
            raise ValueError(f"keep must be at least 1, got {keep}")
        self.world = world
        self.purger = purger
        self.keep = keep
        self._ended: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._held: dict[str, None] = {}  # ended children of live parents
        self._sweeps = 0
        self._stop: Callable[[], None] | None = None

    def start(self) -> None:
        if self._stop is None:
            self._stop = endings.listen(self._on_ending)

    def stop(self) -> None:
        if self._stop is not None:
            self._stop()
            self._stop = None

    def _on_ending(self, run_id: str, world: object) -> None:
        if world is self.world:
            self._ended[run_id] = None
            self._ended.move_to_end(run_id)

    async def _purge(self, run_id: str) -> str:
        """ "purged", "held" (a live parent's child), "gone" (no record) or "failed"."""
        try:
            record = await self.world.runs.get(run_id)
            if record is None:
                return "gone"
            if await live_parent(self.world, record):
                return "held"
            return "purged" if await self.purger.purge_run(run_id) else "gone"
        except Exception as error:  # one run's failure never stops the sweep
            log.warning("could not purge run %s: %s: %s", run_id, type(error).__name__, error)
            return "failed"

    async def sweep(self, *, full: bool = False) -> SweepResult:
        """Purge the ended runs beyond the `keep` most recent, oldest first (at most
        `MAX_PURGES_PER_SWEEP`); `full` (and the first sweep, and every
        `FULL_SWEEP_EVERY`th) first lists the World for endings this process missed."""
        result = SweepResult()
        if full or self._sweeps % FULL_SWEEP_EVERY == 0:
            result.listed = True
            known = set(self._ended) | set(self._held)
            missed = [run_id for run_id in await ended_runs(self.world) if run_id not in known]
            self._ended = collections.OrderedDict(
                [*((run_id, None) for run_id in missed), *self._ended.items()]
            )
        self._sweeps += 1
        for run_id in list(self._held):  # a parent that has ended lets its child go
            record = await self.world.runs.get(run_id)
            if record is None or not await live_parent(self.world, record):
                del self._held[run_id]
                self._ended[run_id] = None
                self._ended.move_to_end(run_id, last=False)  # was waiting: among the oldest
        while len(self._ended) > self.keep and result.purged < MAX_PURGES_PER_SWEEP:
            count = min(PURGE_CONCURRENCY, len(self._ended) - self.keep)
            batch = list(itertools.islice(self._ended, count))
            outcomes = await asyncio.gather(*(self._purge(run_id) for run_id in batch))
            for run_id, outcome in zip(batch, outcomes, strict=True):
                if outcome == "failed":
                    continue  # it stays among the oldest: the next sweep tries again
                self._ended.pop(run_id, None)
                if outcome == "held":
                    self._held[run_id] = None
                elif outcome == "purged":
                    result.purged += 1
            if "failed" in outcomes:
                break
        result.ended, result.held = len(self._ended), len(self._held)
        if result.purged:
            log.info("retention: purged %d ended runs (kept %d)", result.purged, self.keep)
        return result
