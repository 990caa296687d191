"""The byte layout of one log item: a batch of events, payloads kept as raw bytes.

    b"SLB1" | u32 length of header | header JSON | payload bytes, concatenated

The header is a JSON list with one entry per event:
`[type, event_id, created_at, correlation_id, attrs, payload_length or -1]`. Payloads are
ciphertext already (the engine encrypts); keeping them out of the JSON avoids base64's third.
Event `attrs` are plaintext names, ids, numbers and statuses, so JSON holds them exactly
(floats round-trip through `repr`).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from typing import Any

from steplane.runtime.engine.events import Event
from steplane.runtime.errors import CorruptedDataError

MAGIC = b"SLB1"
_HEADER_LENGTH = struct.Struct(">I")


def encode_batch(events: Sequence[Event]) -> bytes:
    header: list[list[Any]] = []
    payloads: list[bytes] = []
    for event in events:
        payload = event.payload
        header.append(
            [
                event.type,
                event.event_id,
                event.created_at,
                event.correlation_id,
                dict(event.attrs),
                -1 if payload is None else len(payload),
            ]
        )
        if payload is not None:
            payloads.append(bytes(payload))
    try:
        text = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as error:
        raise ValueError(f"event attrs must be plain JSON values: {error}") from None
    return b"".join([MAGIC, _HEADER_LENGTH.pack(len(text)), text, *payloads])


def decode_batch(data: bytes, first_seq: int, *, where: str) -> list[Event]:
    """The events of a batch item stored at `first_seq`; CorruptedDataError if unreadable."""
    try:
        if data[:4] != MAGIC:
            raise ValueError("unknown batch format")
        (length,) = _HEADER_LENGTH.unpack_from(data, 4)
        offset = 8 + length
        header = json.loads(data[8:offset])
        events = []
        for seq, (type_, event_id, created_at, correlation_id, attrs, size) in enumerate(
            header, first_seq
        ):
            payload = None
            if size >= 0:
                payload = data[offset : offset + size]
                if len(payload) != size:
                    raise ValueError("truncated payload")
                offset += size
            events.append(
                Event(type_, event_id, float(created_at), correlation_id, attrs, payload, seq)
            )
        if offset != len(data) or not events:
            raise ValueError("trailing bytes" if events else "empty batch")
        return events
    except (ValueError, TypeError, struct.error) as error:
        raise CorruptedDataError(f"{where}: unreadable log item ({error})") from None
