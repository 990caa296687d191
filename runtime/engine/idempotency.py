"""Idempotency keys of `start()` and `resume_hook()`: what a key turns into when stored.

A key never goes into the World as the caller wrote it (it may carry an order number or an
email): `start` derives the run id from a hash of (workflow name, key), so every retry with
the same key addresses the same run record, whose creation is a conditional write; and
`resume_hook` records the key's hash on the `hook_received` event it delivered.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

_DOMAIN = b"steplane idempotency v1"


def key_hash(*parts: str) -> str:
    """A stable digest of the parts (NUL-separated), 32 hex characters."""
    message = "\0".join(parts).encode("utf-8")
    return hmac.new(_DOMAIN, message, hashlib.sha256).hexdigest()[:32]


def run_id_for_key(workflow_name: str, key: str) -> str:
    """`run_` + 26 base32 characters (the shape of a ULID run id) derived from the key.

    Such ids do not sort by creation time; listings order runs by `created_at` anyway."""
    digest = hmac.new(_DOMAIN, f"run\0{workflow_name}\0{key}".encode(), hashlib.sha256).digest()
    text = base64.b32encode(digest).decode("ascii").rstrip("=")[:26]
    return f"run_{text}"
