"""What a `hook_created` event records, and reading it back from a run's log.

The event's encrypted payload holds the hook's token (so the run can free it when it ends),
its metadata, and its webhook check if it has one. The token and the webhook secret are
bearer secrets: they exist in clear only in the workflow and, decrypted, here.
"""

from __future__ import annotations

from typing import Any

from ..hook_handle import Hook, WebhookCheck
from ..world import HookOwner
from .codec import RunCodec
from .events import Event, EventType


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


async def hook_owners(codec: RunCodec, log: list[Event], *, live_only: bool) -> list[HookOwner]:
    """The tokens the run's hooks hold (or held), read from their `hook_created` events."""
    disposed = {e.correlation_id for e in log if e.type == EventType.HOOK_DISPOSED}
    owners = []
    for event in log:
        if event.type != EventType.HOOK_CREATED or (live_only and event.correlation_id in disposed):
            continue
        created = await codec.open(event)
        owners.append(HookOwner(created["token"], codec.run_id, event.correlation_id or ""))
    return owners
