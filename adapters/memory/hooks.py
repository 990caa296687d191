"""In-memory hook-token registry: a token is held by at most one live hook.

Tokens are kept only as keyed digests (`runtime.world.hook_token_digest`), like the AWS
registry, so the memory World behaves the same way and a dump of it shows no token. The key
is random per World: a memory World lives in one process, so nothing else needs it.
"""

from __future__ import annotations

import secrets
import threading

from steplane.runtime.errors import HookConflictError
from steplane.runtime.world import HookOwner, hook_token_digest, token_fingerprint


class MemoryHookRegistry:
    def __init__(self, key: bytes | None = None) -> None:
        self._key = key if key is not None else secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._owners: dict[str, tuple[str, str]] = {}  # digest -> (run_id, hook_id)

    def digest(self, token: str) -> str:
        return hook_token_digest(self._key, token)

    async def claim(self, owner: HookOwner) -> None:
        """Idempotent for the same (run, hook) so a replayed `create_hook` succeeds again."""
        digest = self.digest(owner.token)
        with self._lock:
            holder = self._owners.setdefault(digest, (owner.run_id, owner.hook_id))
        if holder != (owner.run_id, owner.hook_id):
            # Name the token by fingerprint and not the holder: the token is a bearer secret,
            # and the other run is none of the caller's business.
            raise HookConflictError(
                f"hook token {token_fingerprint(digest)} is already held by another live hook"
            )

    async def lookup(self, token: str) -> HookOwner | None:
        with self._lock:
            holder = self._owners.get(self.digest(token))
        return None if holder is None else HookOwner(token, *holder)

    async def release(self, owner: HookOwner) -> None:
        """Free the token only if `owner` holds it, so a late release never frees a reclaim."""
        digest = self.digest(owner.token)
        with self._lock:
            if self._owners.get(digest) == (owner.run_id, owner.hook_id):
                del self._owners[digest]
