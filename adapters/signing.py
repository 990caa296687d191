"""HMAC-SHA256 signatures for invocation requests (DESIGN.md invariant 6).

Whoever delivers queue messages to an HTTP function host (the emulator's poller, a queue
forwarder) signs each request body with a shared secret; the host refuses anything unsigned,
tampered with, or outside a short time window, before it touches the World.

    X-Steplane-Timestamp: 1700000000
    X-Steplane-Signature: v1=<hex HMAC-SHA256(secret, b"1700000000." + body)>

The timestamp is inside the MAC, so an old request cannot be replayed with a fresh timestamp,
and a captured request stops working after `tolerance` seconds. Within that window a replay is
harmless: invocations are idempotent (messages are delivered at least once anyway).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections.abc import Mapping

TIMESTAMP_HEADER = "X-Steplane-Timestamp"
SIGNATURE_HEADER = "X-Steplane-Signature"
SECRET_ENV = "STEPLANE_SIGNING_SECRET"
DEFAULT_TOLERANCE = 300
_SCHEME = "v1="


class SignatureError(Exception):
    """An invocation request is unsigned, malformed, wrongly signed or outside the time window."""


def secret_from_env() -> bytes | None:
    """The signing secret from `STEPLANE_SIGNING_SECRET`, or None when it is not set."""
    value = os.environ.get(SECRET_ENV, "")
    return value.encode() if value else None


def _key(secret: str | bytes) -> bytes:
    key = secret.encode() if isinstance(secret, str) else bytes(secret)
    if not key:
        raise ValueError("the signing secret must not be empty")
    return key


def _mac(secret: str | bytes, timestamp: str, body: bytes) -> str:
    return hmac.new(_key(secret), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str | bytes, body: bytes, now: float | None = None) -> dict[str, str]:
    """The headers that authenticate `body` (send them with exactly these bytes)."""
    timestamp = str(int(time.time() if now is None else now))
    return {
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: _SCHEME + _mac(secret, timestamp, body),
    }


def verify(
    secret: str | bytes,
    body: bytes,
    headers: Mapping[str, str],
    now: float | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> None:
    """Raise SignatureError unless `headers` carry a valid, fresh signature of `body`.

    `headers` may be any mapping; names are matched case-insensitively. Several `v1=`
    signatures separated by commas are accepted (a sender rotating its secret signs twice).
    """
    lowered = {str(name).lower(): value for name, value in headers.items()}
    timestamp = lowered.get(TIMESTAMP_HEADER.lower())
    signature = lowered.get(SIGNATURE_HEADER.lower())
    if not timestamp or not signature:
        raise SignatureError(
            f"unsigned request: {TIMESTAMP_HEADER} and {SIGNATURE_HEADER} headers are required"
        )
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise SignatureError(f"malformed {TIMESTAMP_HEADER}: expected unix seconds")
    age = (time.time() if now is None else now) - int(timestamp)
    if age > tolerance:
        raise SignatureError(f"stale request: signed {int(age)} s ago (limit {int(tolerance)} s)")
    if age < -tolerance:
        raise SignatureError(f"request timestamp is {int(-age)} s in the future")
    candidates = [part.strip() for part in signature.split(",")]
    if not any(part.startswith(_SCHEME) for part in candidates):
        raise SignatureError(f"malformed {SIGNATURE_HEADER}: expected 'v1=<hex>'")
    expected = _mac(secret, timestamp, body).encode()
    matched = False
    for part in candidates:
        if part.startswith(_SCHEME):
            # compare_digest on every candidate: the time taken says nothing about which matched
            matched |= hmac.compare_digest(expected, part[len(_SCHEME) :].encode())
    if not matched:
        raise SignatureError("wrong signature")
