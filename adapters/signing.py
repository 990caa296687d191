"""HMAC-SHA256 signatures for invocation requests (docs/invariants.md #6).

Whoever delivers queue messages to an HTTP function host (the emulator's poller, a queue
forwarder) signs each request body with a shared secret; the host refuses anything unsigned,
tampered with, or outside a short time window, before it touches the World.

    X-Steplane-Timestamp: 1700000000
    X-Steplane-Nonce: <random, unique per request>
    X-Steplane-Receive-Count: 2
    X-Steplane-Signature: v1=<hex HMAC-SHA256(secret, b"1700000000.<nonce>.2." + body)>

Every header that changes what the host does is inside the MAC (`SIGNED_HEADERS`: today the
nonce and the receive count, which decides when a message gives up), so none can be altered,
added or removed without breaking the signature. The timestamp is inside too: a captured
request stops working after `tolerance` seconds.

Replay model: within the window the host refuses a nonce it has already seen (`ReplayGuard`
in adapters/http/replay.py, per process). Across processes a replay inside the window can
get through; that is harmless by design, because invocations are idempotent (queues deliver
every message at least once anyway, and each event is recorded exactly once).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import time
from collections.abc import Mapping

TIMESTAMP_HEADER = "X-Steplane-Timestamp"
SIGNATURE_HEADER = "X-Steplane-Signature"
NONCE_HEADER = "X-Steplane-Nonce"
RECEIVE_COUNT_HEADER = "X-Steplane-Receive-Count"
SIGNED_HEADERS = (NONCE_HEADER, RECEIVE_COUNT_HEADER)
"""Headers covered by the signature, in MAC order (a missing one counts as empty)."""
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


_NONCE = re.compile(r"[A-Za-z0-9_-]{8,64}")


def _mac(secret: str | bytes, timestamp: str, signed: list[str], body: bytes) -> str:
    prefix = ".".join([timestamp, *signed]) + "."
    return hmac.new(_key(secret), prefix.encode() + body, hashlib.sha256).hexdigest()


def sign(
    secret: str | bytes,
    body: bytes,
    now: float | None = None,
    *,
    receive_count: int = 1,
    nonce: str | None = None,
) -> dict[str, str]:
    """The headers that authenticate `body` (send them all, with exactly these bytes).

    A fresh random nonce per call: two deliveries of the same message are distinct requests.
    """
    timestamp = str(int(time.time() if now is None else now))
    headers = {
        NONCE_HEADER: nonce if nonce is not None else secrets.token_urlsafe(18),
        RECEIVE_COUNT_HEADER: str(receive_count),
    }
    signed = [headers[name] for name in SIGNED_HEADERS]
    return {
        TIMESTAMP_HEADER: timestamp,
        **headers,
        SIGNATURE_HEADER: _SCHEME + _mac(secret, timestamp, signed, body),
    }


def verify(
    secret: str | bytes,
    body: bytes,
    headers: Mapping[str, str],
    now: float | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> str:
    """Raise SignatureError unless `headers` carry a valid, fresh signature of `body`.

    `headers` may be any mapping; names are matched case-insensitively. Several `v1=`
    signatures separated by commas are accepted (a sender rotating its secret signs twice).
    Returns the nonce, for the caller's replay check.
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
    nonce = lowered.get(NONCE_HEADER.lower(), "")
    if not _NONCE.fullmatch(nonce):
        raise SignatureError(
            f"missing or malformed {NONCE_HEADER}: expected 8-64 URL-safe characters"
        )
    signed = [lowered.get(name.lower(), "") for name in SIGNED_HEADERS]
    if any("." in value for value in signed):  # "." separates the MAC's fields
        raise SignatureError(f"malformed signed header: '.' is not allowed in {SIGNED_HEADERS}")
    expected = _mac(secret, timestamp, signed, body).encode()
    matched = False
    for part in candidates:
        if part.startswith(_SCHEME):
            # compare_digest on every candidate: the time taken says nothing about which matched
            matched |= hmac.compare_digest(expected, part[len(_SCHEME) :].encode())
    if not matched:
        raise SignatureError("wrong signature")
    return nonce
