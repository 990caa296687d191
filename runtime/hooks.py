"""Hooks: a workflow waits for payloads that the outside world sends with `resume_hook(token)`.

A hook buffers payloads in the order they were recorded, so `await hook` returns the next one
and `async for payload in hook` returns each of them until the hook is disposed. Disposing (or
leaving an `async with` block) frees the token for another hook.

A hook may also name a webhook secret (`create_hook(webhook_secret="whsec_...")`): then the HTTP
webhook accepts a payload only with a valid HMAC-SHA256 signature of its raw body, the way
GitHub and Stripe sign theirs. The secret is kept in the encrypted `hook_created` payload,
like the token, and nowhere else (runtime/engine/hook_records.py reads it back).
"""

from __future__ import annotations

from typing import Any

from .context import current_instance
from .errors import NotInWorkflowError
from .hook_handle import DEFAULT_SIGNATURE_HEADER, Hook, WebhookCheck


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
