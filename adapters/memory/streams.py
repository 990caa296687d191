"""In-memory streams: ordered chunks per (run, stream name), readable from any index."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from steplane.runtime.world import StreamChunks


@dataclass
class _Stream:
    chunks: list[bytes] = field(default_factory=list)
    closed: bool = False


class MemoryStreamStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # run id -> stream name -> stream; dicts keep creation order for `names`.
        self._runs: dict[str, dict[str, _Stream]] = {}

    async def append(self, run_id: str, name: str, data: bytes) -> int:
        chunk = bytes(data)
        with self._lock:
            stream = self._runs.setdefault(run_id, {}).setdefault(name, _Stream())
            if stream.closed:
                raise ValueError(f"stream {name!r} of run {run_id} is closed")
            stream.chunks.append(chunk)
            return len(stream.chunks) - 1

    async def read(self, run_id: str, name: str, start: int = 0) -> StreamChunks:
        start = max(start, 0)
        with self._lock:
            stream = self._runs.get(run_id, {}).get(name)
            if stream is None:
                return StreamChunks(start=start, chunks=[], closed=False)
            return StreamChunks(start=start, chunks=stream.chunks[start:], closed=stream.closed)

    async def close(self, run_id: str, name: str) -> None:
        with self._lock:
            self._runs.setdefault(run_id, {}).setdefault(name, _Stream()).closed = True

    def delete_run(self, run_id: str) -> int:
        """Forget every stream of the run (retention, `MemoryWorld.purge_run`); how many."""
        with self._lock:
            return len(self._runs.pop(run_id, {}))

    async def names(self, run_id: str) -> list[str]:
        with self._lock:
            return list(self._runs.get(run_id, {}))
