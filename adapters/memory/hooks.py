"""In-memory hook-token registry: a token is held by at most one live hook.

Tokens are kept only as keyed digests (`runtime.world.hook_token_digest`), like the AWS
registry, so the memory World behaves the same way and a dump of it shows no token. The key
is random per World: a memory World lives in one process, so nothing else needs it.
"""

from __future__ import annotations

import secrets
import threading

from steplane.runtime.errors import HookConflictError
from steplane.runtime.world import (
    HookEntry,
    HookOwner,
    Page,
    check_at_least_one,
    hook_token_digest,
    token_fingerprint,
)

_CURSOR_PREFIX = "hk:"


class MemoryHookRegistry:
    def __init__(self, key: bytes | None = None) -> None:
        self._key = key if key is not None else secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._owners: dict[str, tuple[str, str]] = {}  # digest -> (run_id, hook_id)
        self._claimed_at: dict[str, float | None] = {}  # digest -> first claim's time

    def digest(self, token: str) -> str:
        return hook_token_digest(self._key, token)

    async def claim(self, owner: HookOwner) -> None:
        """Idempotent for the same (run, hook) so a replayed `create_hook` succeeds again."""
        digest = self.digest(owner.token)
        with self._lock:
            holder = self._owners.setdefault(digest, (owner.run_id, owner.hook_id))
            if holder == (owner.run_id, owner.hook_id) and self._claimed_at.get(digest) is None:
                self._claimed_at[digest] = owner.created_at  # the first claim's time stays
        if holder != (owner.run_id, owner.hook_id):
            # Name the token by fingerprint and not the holder: the token is a bearer secret,
            # and the other run is none of the caller's business.
            raise HookConflictError(
                f"hook token {token_fingerprint(digest)} is already held by another live hook"
            )

    async def lookup(self, token: str) -> HookOwner | None:
        digest = self.digest(token)
        with self._lock:
            holder = self._owners.get(digest)
            claimed_at = self._claimed_at.get(digest)
        return None if holder is None else HookOwner(token, *holder, created_at=claimed_at)

    async def release(self, owner: HookOwner) -> None:
        """Free the token only if `owner` holds it, so a late release never frees a reclaim."""
        digest = self.digest(owner.token)
        with self._lock:
            if self._owners.get(digest) == (owner.run_id, owner.hook_id):
                del self._owners[digest]
                self._claimed_at.pop(digest, None)

    async def list(self, *, limit: int = 50, cursor: str | None = None) -> Page:
        """Live hooks in digest order; the cursor is the last digest listed."""
        check_at_least_one("limit", limit)
        after = ""
        if cursor is not None:
            if not cursor.startswith(_CURSOR_PREFIX):
                raise ValueError(f"invalid cursor {cursor!r}: not one this registry handed out")
            after = cursor[len(_CURSOR_PREFIX) :]
        with self._lock:
            digests = sorted(d for d in self._owners if d > after)[: limit + 1]
            items = [
                HookEntry(token_fingerprint(d), *self._owners[d], self._claimed_at.get(d))
                for d in digests[:limit]
            ]
        more = len(digests) > limit
        return Page(items, _CURSOR_PREFIX + digests[limit - 1] if more else None)
