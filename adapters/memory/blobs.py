"""In-memory blob store (the S3 stand-in); blobs arrive already encrypted."""

from __future__ import annotations

import threading


class MemoryBlobStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._blobs: dict[str, bytes] = {}

    async def put(self, key: str, data: bytes) -> None:
        # bytes() snapshots a bytearray/memoryview so later caller edits are not seen.
        blob = bytes(data)
        with self._lock:
            self._blobs[key] = blob

    async def get(self, key: str) -> bytes:
        with self._lock:
            blob = self._blobs.get(key)
        if blob is None:
            raise KeyError(f"no blob with key {key!r}")
        return blob

    async def delete_prefix(self, prefix: str) -> int:
        return self.delete_prefix_now(prefix)

    def delete_prefix_now(self, prefix: str) -> int:
        """`delete_prefix` without an await (`MemoryWorld.purge_run` runs in one go)."""
        with self._lock:
            doomed = [key for key in self._blobs if key.startswith(prefix)]
            for key in doomed:
                del self._blobs[key]
        return len(doomed)
