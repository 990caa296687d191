"""Hooks: a workflow waits for payloads that the outside world sends with `resume_hook(token)`.

A hook buffers payloads in the order they were recorded, so `await hook` returns the next one
and `async for payload in hook` returns each of them until the hook is disposed. Disposing (or
leaving an `async with` block) frees the token for another hook.

A hook may also name a webhook secret (`create_hook(webhook_secret="whsec_...")`): then the HTTP
webhook accepts a payload only with a valid HMAC-SHA256 signature of its raw body, the way
GitHub and Stripe sign theirs. The secret is kept in the encrypted `hook_created` payload,
like the token, and nowhere else.
"""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .context import current_instance
from .engine.codec import RunCodec
from .engine.events import Event, EventType
from .errors import HookConflictError, NotInWorkflowError

if TYPE_CHECKING:
    from collections.abc import Generator

    from .engine.instance import WorkflowInstance


DEFAULT_SIGNATURE_HEADER = "X-Steplane-Signature"


@dataclass(frozen=True)
class WebhookCheck:
    """How the webhook authenticates payloads for one hook: `header` must carry
    `sha256=<hex HMAC-SHA256(secret, raw body)>`."""

    secret: str = field(repr=False)
    header: str = DEFAULT_SIGNATURE_HEADER


class Hook:
    """Handle on a hook inside a workflow; created by `create_hook`."""

    webhook: WebhookCheck | None = None

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
        # No token: a repr ends up in logs and error messages, and the token is a credential.
        return f"<Hook {self.hook_id}{' disposed' if self.disposed else ''}>"

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


def create_hook(
    token: str | None = None,
    metadata: Any = None,
    *,
    webhook_secret: str | None = None,
    signature_header: str = DEFAULT_SIGNATURE_HEADER,
) -> Hook:
    """Create a hook in the running workflow. Without `token`, an unguessable one is made.

    `webhook_secret`: the HTTP webhook then requires `signature_header: sha256=<hex>` (an
    HMAC-SHA256 of the raw request body with this secret) and refuses other requests with 401.
    `resume_hook()` in code is not affected: it is not reachable from outside.
    """
    instance = current_instance()
    if instance is None:
        raise NotInWorkflowError("create_hook() works only inside a @workflow")
    check = None
    if webhook_secret is not None:
        if not isinstance(webhook_secret, str) or not webhook_secret:
            raise ValueError("webhook_secret must be a non-empty string")
        if not isinstance(signature_header, str) or not signature_header.strip():
            raise ValueError("signature_header must name an HTTP header")
        check = WebhookCheck(webhook_secret, signature_header.strip())
    hook = instance.create_hook(token, metadata)
    hook.webhook = check  # recorded with hook_created when the loop next goes idle
    return hook


def hook_created_data(hook: Hook) -> dict[str, Any]:
    """What `hook_created` records (encrypted): the token, to free it when the run ends,
    the metadata, and the webhook check if there is one."""
    data: dict[str, Any] = {"token": hook.token, "metadata": hook.metadata}
    if hook.webhook is not None:
        data["webhook"] = {"secret": hook.webhook.secret, "header": hook.webhook.header}
    return data


async def webhook_check(codec: RunCodec, log: list[Event], hook_id: str) -> WebhookCheck | None:
    """The webhook check recorded for `hook_id` in the run's log (None: the token suffices)."""
    for event in log:
        if event.type == EventType.HOOK_CREATED and event.correlation_id == hook_id:
            created = await codec.open(event)
            webhook = created.get("webhook") if isinstance(created, dict) else None
            if isinstance(webhook, dict):
                return WebhookCheck(str(webhook["secret"]), str(webhook["header"]))
            return None
    return None
