"""In-memory hook-token registry: a token is held by at most one live hook."""

from __future__ import annotations

import threading

from runtime.errors import HookConflictError
from runtime.world import HookOwner


class MemoryHookRegistry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owners: dict[str, HookOwner] = {}

    async def claim(self, owner: HookOwner) -> None:
        """Idempotent for the same (run, hook) so a replayed `create_hook` succeeds again."""
        with self._lock:
            holder = self._owners.setdefault(owner.token, owner)
        if holder != owner:
            # Name the token but not the holder: the other run is none of the caller's business.
            raise HookConflictError(
                f"hook token {owner.token!r} is already held by another live hook"
            )

    async def lookup(self, token: str) -> HookOwner | None:
        with self._lock:
            return self._owners.get(token)

    async def release(self, owner: HookOwner) -> None:
        """Free the token only if `owner` holds it, so a late release never frees a reclaim."""
        with self._lock:
            if self._owners.get(owner.token) == owner:
                del self._owners[owner.token]
