"""The compacted log object: a long log in one S3 object, so a cold process reads it with one
GetObject and the few batch items written after it, not the whole chain and a paged Query.

Layout of `<run_id>/log/compacted` (one key per run, overwritten as the log grows):

    b"SLC1" | SHA-256 of the rest (32 bytes) | u32 length of header | header JSON | body

The header is `{"end": E, "batches": [[start, count], ...]}`: the log's batch items from
position 0 up to E, in order (their true boundaries, which the log cache and every later
append rely on). The body is one `batches.encode_batch` of all their events: the bytes the
items hold, so the object's data is classified as theirs (docs/invariants.md #5): payloads are
the engine's ciphertexts under the run's data key, AAD-bound to run and event; attrs, names and
ids are the plaintext the items keep for listing. Nothing is decrypted to build it.

Why it can be trusted without coordination: a log only grows and its items never change, so a
prefix of it is true forever. A stale object (an older writer's, put after a newer one) or a
duplicate is harmless: a reader takes what it covers and reads the chain from its end. A
corrupt or truncated object fails its hash or its structure checks (`decode_compacted`) and
is ignored; a missing one (the put failed, the writer died first) leaves the chain.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Sequence

from steplane.runtime.engine.events import Event
from steplane.runtime.errors import CorruptedDataError

from .batches import decode_batch, encode_batch

MAGIC = b"SLC1"
_DIGEST_BYTES = 32
_HEADER_LENGTH = struct.Struct(">I")
Batches = list[tuple[int, list[Event]]]


def compacted_key(run_id: str) -> str:
    """Under the run's prefix, so `AwsWorld.purge_run` (which deletes `<run_id>/`) removes it."""
    return f"{run_id}/log/compacted"


def crosses(position: int, count: int, every: int) -> bool:
    """Whether a batch of `count` events at `position` reaches or crosses a multiple of `every`
    (so each multiple triggers one write, by the writer that got there)."""
    return every > 0 and (position + count) // every > position // every


def encode_compacted(batches: Sequence[tuple[int, Sequence[Event]]]) -> bytes:
    """The object for `batches` (contiguous from position 0, as the log holds them)."""
    events = [event for _, batch in batches for event in batch]
    header = {"end": len(events), "batches": [[start, len(batch)] for start, batch in batches]}
    text = json.dumps(header, separators=(",", ":")).encode()
    rest = b"".join([_HEADER_LENGTH.pack(len(text)), text, encode_batch(events)])
    return b"".join([MAGIC, hashlib.sha256(rest).digest(), rest])


def decode_compacted(data: bytes, *, where: str) -> Batches:
    """The batches of an object; CorruptedDataError if it fails any check (never trusted then)."""
    try:
        if data[:4] != MAGIC:
            raise ValueError("unknown format")
        rest = data[4 + _DIGEST_BYTES :]
        if hashlib.sha256(rest).digest() != data[4 : 4 + _DIGEST_BYTES]:
            raise ValueError("hash mismatch (corrupt or truncated)")
        (length,) = _HEADER_LENGTH.unpack_from(rest, 0)
        header = json.loads(rest[4 : 4 + length])
        end, bounds = int(header["end"]), header["batches"]
        events = decode_batch(rest[4 + length :], 0, where=where)
        if len(events) != end or not bounds:
            raise ValueError("event count differs from the header")
        batches: Batches = []
        expected = 0
        for start, count in bounds:
            if start != expected or count < 1:
                raise ValueError(f"batch boundaries not contiguous at {start}")
            batches.append((start, events[start : start + count]))
            expected = start + count
        if expected != end:
            raise ValueError("batch boundaries do not reach the end")
        if any(event.is_terminal for event in events[:-1]):
            raise ValueError("a terminal event before the end")
        return batches
    except (ValueError, TypeError, KeyError, struct.error, CorruptedDataError) as error:
        raise CorruptedDataError(f"{where}: unreadable compacted log ({error})") from None
