"""Identifiers: prefixed ULIDs that sort by creation time, and unguessable tokens.

Time-ordered ids keep event logs, runs and steps listed in creation order by a plain string
sort (DynamoDB sort keys, S3 listings) without a separate timestamp column.
"""

from __future__ import annotations

import re
import secrets
import threading
import time

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RANDOM_BITS = 80
_MAX_MS = 2**48 - 1

_lock = threading.Lock()
_last = 0  # the last 128-bit ULID value made in this process


def new_id(prefix: str, now: float | None = None) -> str:
    """`{prefix}_{ULID}`: 48-bit ms timestamp + 80 random bits in 26 Crockford base32 chars.

    Within one millisecond in this process each id is the previous one plus one, so ids sort in
    creation order unless the clock goes back. `now` (epoch seconds) lets a virtual clock stamp it.
    """
    ms = int((time.time() if now is None else now) * 1000)
    if not 0 <= ms <= _MAX_MS:
        raise ValueError(f"cannot make an id for time {now!r}: outside the ULID range")
    global _last
    with _lock:
        value = (ms << _RANDOM_BITS) | secrets.randbits(_RANDOM_BITS)
        if ms == _last >> _RANDOM_BITS and value <= _last:
            value = _last + 1
        _last = value
    return f"{prefix}_{_encode(value)}"


def _encode(value: int) -> str:
    chars = []
    for _ in range(26):
        chars.append(CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_token() -> str:
    """A URL-safe random token with 192 bits of entropy (for hook tokens and the like)."""
    return secrets.token_urlsafe(24)


_DEPLOYMENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def check_deployment_id(value: object) -> str:
    """`value` as a deployment id, or a ValueError naming the problem: ids name queues and
    Lambda versions' resources, so they are 1-40 letters, digits, `-` or `_`."""
    if not isinstance(value, str) or not _DEPLOYMENT_ID.match(value):
        raise ValueError(f"invalid deployment id {value!r}: use 1-40 letters, digits, '-' or '_'")
    return value
