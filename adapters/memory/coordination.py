"""In-memory coordination items: compare-and-set on a dict, under a thread lock."""

from __future__ import annotations

import copy
import json
import threading
from typing import Any

from steplane.runtime.world import MAX_COORDINATION_BYTES, Versioned, check_coordination


class MemoryCoordinationStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, Versioned] = {}

    async def get(self, key: str) -> Versioned | None:
        check_coordination(key, 1)
        with self._lock:
            item = self._items.get(key)
        return None if item is None else Versioned(copy.deepcopy(item.data), item.version)

    async def put(self, key: str, data: dict[str, Any], version: int) -> bool:
        check_coordination(key, version)
        if len(json.dumps(data)) > MAX_COORDINATION_BYTES:  # as the AWS store measures it
            raise ValueError(f"coordination item {key!r} is over {MAX_COORDINATION_BYTES} bytes")
        with self._lock:
            current = self._items.get(key)
            if (current.version if current else 0) != version - 1:
                return False
            self._items[key] = Versioned(copy.deepcopy(data), version)
        return True
