"""MemoryWorld: every store in process memory. For tests, the emulator and single-process use.

Nothing survives the process. The stores are driven from one asyncio loop, but plain-def steps
run in threads, so each store guards its state with a `threading.Lock` (never held across an
await).
"""

from __future__ import annotations

from collections.abc import Sequence

from steplane.runtime.engine.events import Event
from steplane.runtime.world import Clock, Limits, QueueClock, RealClock, RunRecord

from .blobs import MemoryBlobStore
from .coordination import MemoryCoordinationStore
from .hooks import MemoryHookRegistry
from .keys import MemoryKeyProvider
from .log import MemoryEventLog
from .queue import MemoryQueue
from .runs import MemoryRunStore
from .streams import MemoryStreamStore


class MemoryWorld:
    """A World (see `runtime.world.World`) whose stores are plain Python objects."""

    name = "memory"
    clock = QueueClock()

    def __init__(
        self, clock: Clock | None = None, limits: Limits | None = None, max_receives: int = 5
    ) -> None:
        self.limits = limits if limits is not None else Limits()
        self.log = MemoryEventLog()
        self.runs = MemoryRunStore()
        self.hooks = MemoryHookRegistry()
        self.blobs = MemoryBlobStore()
        self.streams = MemoryStreamStore()
        self.queue = MemoryQueue(clock if clock is not None else RealClock(), max_receives)
        self.keys = MemoryKeyProvider()
        self.coordination = MemoryCoordinationStore()

    async def create_run(self, record: RunRecord, events: Sequence[Event]) -> None:
        """The record, then the log's first batch (runtime.world.World.create_run): memory
        writes cost no call, so the two stores stay apart."""
        await self.runs.create(record)
        await self.log.append(record.run_id, 0, events)

    async def purge_run(self, run_id: str) -> None:
        """Drop everything the run left (runtime.world.World.purge_run): its log, blobs,
        streams and record. No await between the stores, so no invocation on this event loop
        sees a run half gone."""
        record = await self.runs.get(run_id)
        if record is not None and not record.status.is_terminal:
            raise ValueError(f"run {run_id} is {record.status}: only ended runs can be purged")
        self.log.delete_run(run_id)
        self.streams.delete_run(run_id)
        self.blobs.delete_prefix_now(f"{run_id}/")
        self.runs.delete(run_id)

    async def close(self) -> None:
        """Release long-polls; the stores themselves need no cleanup."""
        await self.queue.close()
