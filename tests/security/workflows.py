"""Workflows the security tests run."""

from __future__ import annotations

from typing import Any

from runtime import create_hook, workflow


@workflow
async def signed_hook(token: str, secret: str) -> Any:
    return await create_hook(token=token, webhook_secret=secret)


@workflow
async def custom_header_hook(token: str, secret: str) -> Any:
    return await create_hook(
        token=token, webhook_secret=secret, signature_header="X-Hub-Signature-256"
    )
