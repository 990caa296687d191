"""Hooks: a workflow waits for payloads that the outside world sends with `resume_hook(token)`.

A hook buffers payloads in the order they were recorded, so `await hook` returns the next one
and `async for payload in hook` returns each of them until the hook is disposed. Disposing (or
leaving an `async with` block) frees the token for another hook.
"""

from __future__ import annotations

import asyncio
import collections
from typing import TYPE_CHECKING, Any

from .context import current_instance
from .errors import HookConflictError, NotInWorkflowError

if TYPE_CHECKING:
    from collections.abc import Generator

    from .instance import WorkflowInstance


class Hook:
    """Handle on a hook inside a workflow; created by `create_hook`."""

    def __init__(self, instance: WorkflowInstance, hook_id: str, token: str, metadata: Any) -> None:
        self._instance = instance
        self.hook_id = hook_id
        self.token = token
        self.metadata = metadata
        self._payloads: collections.deque[Any] = collections.deque()
        self._waiters: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._error: str | None = None
        self.disposed = False

    def __repr__(self) -> str:
        return f"<Hook {self.hook_id} token={self.token!r}{' disposed' if self.disposed else ''}>"

    # --- receiving -----------------------------------------------------------------------------

    def next_payload(self) -> asyncio.Future[Any]:
        """A future for the next payload (or the hook's error, or StopAsyncIteration)."""
        future = self._instance.new_future()
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
        self._instance.dispose_hook(self)

    def __enter__(self) -> Hook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.dispose()

    async def __aenter__(self) -> Hook:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.dispose()

    # --- fed by the replay engine --------------------------------------------------------------

    def _deliver(self, payload: Any) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(payload)
                return
        self._payloads.append(payload)

    def _fail(self, message: str) -> None:
        self._error = message
        self._settle_waiters(lambda: HookConflictError(message))

    def _close(self) -> None:
        self.disposed = True
        self._settle_waiters(StopAsyncIteration)

    def _settle_waiters(self, make_error: Any) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(make_error())


def create_hook(token: str | None = None, metadata: Any = None) -> Hook:
    """Create a hook in the running workflow. Without `token`, an unguessable one is made."""
    instance = current_instance()
    if instance is None:
        raise NotInWorkflowError("create_hook() works only inside a @workflow")
    return instance.create_hook(token, metadata)
