"""Audit records of decrypts made outside the function host (CLI, HTTP API, web UI).

Reading a run's values in the clear from outside the function host is an access to user data,
so it leaves a durable record: who, when, which run, through what. Records are stored in the
World's blob store under `audit/<run_id>/` (they outlive the run's own data, which lives under
`<run_id>/`) and logged on the `steplane.audit` logger.
"""

from __future__ import annotations

import json
import logging

from ..context import utc
from ..ids import new_id
from ..world import World

log = logging.getLogger("steplane.audit")


async def record_decrypt(world: World, run_id: str, *, actor: str, via: str) -> str:
    """Store an audit record of a decrypt of `run_id`'s values; returns the record's key."""
    now = world.clock.time()
    entry = {
        "audit": "decrypt",
        "run_id": run_id,
        "actor": actor,
        "via": via,
        "at": utc(now).isoformat(),
    }
    key = f"audit/{run_id}/{new_id('audit', now)}.json"
    await world.blobs.put(key, json.dumps(entry, separators=(",", ":")).encode())
    log.warning(json.dumps(entry, separators=(",", ":")))
    return key
