"""Delivering queue messages to an HTTP function host: signed `POST /invoke` requests.

Used by the emulator (`invoke="http"`) and usable by any queue forwarder. The status code is
turned into what the deliverer should do: 200 -> done; 400, 404, 413, 422 ->
`InvocationRejectedError` (permanent: retrying cannot help); anything else, or no answer ->
`InvocationFailedError` (deliver again later). Each request is signed afresh (new timestamp
and nonce), receive count included, so a redelivery is never refused as a replay.
httpx is imported here only, so the app itself does not need it.
"""

from __future__ import annotations

import json
from typing import Any

from ..signing import sign

PERMANENT_STATUSES = frozenset({400, 404, 413, 422})


class InvocationFailedError(Exception):
    """The host did not process the message this time; deliver it again later."""


class InvocationRejectedError(Exception):
    """The host refused the message for good (HTTP 400, 404, 413, 422): it can never
    succeed there."""


class InvokeClient:
    """An HTTP/1.1 connection pool that posts signed invocation requests to one host."""

    def __init__(
        self,
        base_url: str,
        signing_secret: str | bytes,
        *,
        timeout: float | None = 300.0,
        max_connections: int = 100,
    ) -> None:
        try:
            import httpx
        except ImportError:  # pragma: no cover - httpx ships with the dev extra
            raise ImportError("invoking over HTTP needs httpx: pip install httpx") from None
        self._httpx = httpx
        self._secret = signing_secret
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout,
            trust_env=False,  # never route invocations through an environment proxy
            limits=httpx.Limits(max_connections=max_connections),
        )

    async def invoke(self, message: Any, *, receive_count: int = 1, path: str = "/invoke") -> None:
        """Deliver one message; returns when the host has processed it."""
        body = json.dumps(message, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            **sign(self._secret, body, receive_count=receive_count),
        }
        try:
            response = await self._client.post(path, content=body, headers=headers)
        except self._httpx.HTTPError as error:
            raise InvocationFailedError(f"{type(error).__name__}: {error}") from None
        if response.status_code == 200:
            return
        detail = _error_text(response)
        if response.status_code in PERMANENT_STATUSES:
            raise InvocationRejectedError(detail)
        raise InvocationFailedError(f"HTTP {response.status_code}: {detail}")

    async def aclose(self) -> None:
        await self._client.aclose()


def _error_text(response: Any) -> str:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    return str(error) if error else response.text[:200] or response.reason_phrase
