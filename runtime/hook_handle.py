"""`Hook`: the handle `create_hook()` returns (runtime/hooks.py describes how hooks behave).

It lives apart from `create_hook` so that the replaying workflow's protocol (runtime/context.py)
can name it without an import circle. The replay engine feeds it (`feed_*`); the workflow it
belongs to (a `HookDriver`) makes its futures and records its disposal.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, Protocol

from .errors import HookConflictError

DEFAULT_SIGNATURE_HEADER = "X-Steplane-Signature"


@dataclass(frozen=True)
class WebhookCheck:
    """How the webhook authenticates payloads for one hook: `header` must carry
    `sha256=<hex HMAC-SHA256(secret, raw body)>`."""

    secret: str = field(repr=False)
    header: str = DEFAULT_SIGNATURE_HEADER


class HookDriver(Protocol):
    """What a hook needs from the workflow replaying it (engine/instance.py implements it)."""

    def new_future(self) -> asyncio.Future[Any]: ...

    def dispose_hook(self, hook: Hook) -> None: ...


class Hook:
    """Handle on a hook inside a workflow; created by `create_hook`."""

    webhook: WebhookCheck | None = None

    def __init__(self, driver: HookDriver, hook_id: str, token: str, metadata: Any) -> None:
        self._driver = driver
        self.hook_id = hook_id
        self.token = token
        self.metadata = metadata
        self._payloads: collections.deque[Any] = collections.deque()
        self._waiters: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._error: str | None = None
        self.disposed = False

    def __repr__(self) -> str:
        # No token: a repr ends up in logs and error messages, and the token is a credential.
        return f"<Hook {self.hook_id}{' disposed' if self.disposed else ''}>"

    # --- receiving -----------------------------------------------------------------------------

    def next_payload(self) -> asyncio.Future[Any]:
        """A future for the next payload (or the hook's error, or StopAsyncIteration)."""
        future = self._driver.new_future()
        if self._error is not None:
            future.set_exception(HookConflictError(self._error))
        elif self._payloads:
            future.set_result(self._payloads.popleft())
        elif self.disposed:
            future.set_exception(StopAsyncIteration())
        else:
            self._waiters.append(future)
        return future

    def __await__(self) -> Generator[Any, None, Any]:
        return self.next_payload().__await__()

    def __aiter__(self) -> Hook:
        return self

    async def __anext__(self) -> Any:
        return await self.next_payload()

    # --- lifetime ------------------------------------------------------------------------------

    def dispose(self) -> None:
        """Stop receiving payloads and free the token (durably recorded)."""
        self._driver.dispose_hook(self)

    def __enter__(self) -> Hook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.dispose()

    async def __aenter__(self) -> Hook:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.dispose()

    # --- fed by the replay engine --------------------------------------------------------------

    def feed_payload(self, payload: Any) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(payload)
                return
        self._payloads.append(payload)

    def feed_conflict(self, message: str) -> None:
        self._error = message
        self._settle_waiters(lambda: HookConflictError(message))

    def feed_disposed(self) -> None:
        self.disposed = True
        self._settle_waiters(StopAsyncIteration)

    def _settle_waiters(self, make_error: Any) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(make_error())
