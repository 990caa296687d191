"""Sealing user values into events: serialize, encrypt with the run's data key, offload large ones.

Every user value at rest is AES-256-GCM ciphertext under a per-run data key; the AAD binds it to
its run and event id, so a ciphertext copied into another event or run fails to decrypt. Values
whose ciphertext is larger than the World's inline limit go to the blob store and the event
keeps only the blob key and size (plaintext) in its attrs.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from .. import serde
from ..errors import CorruptedDataError, RunNotFoundError
from ..ids import new_id
from ..world import World
from .crypto import DataKeyCipher, aad
from .events import BLOB_ATTR, BLOB_SIZE_ATTR, Event, check_new

_KEY_CACHE_SIZE = 4096


@dataclass(frozen=True)
class SealedValue:
    """Where an event's sealed value is and how big its ciphertext is: all that can be said
    about it without the run's data key. `blob` is the blob store key, None when inline."""

    size: int
    blob: str | None = None


def sealed_value(event: Event) -> SealedValue | None:
    """What `event` seals (None: no value). The codec decides where a value goes and names the
    attributes that say so; readers (run_bytes, the presentation in runtime/describe.py) ask
    here instead of reading them."""
    blob = event.attrs.get(BLOB_ATTR)
    if isinstance(blob, str):
        size = event.attrs.get(BLOB_SIZE_ATTR)
        return SealedValue(size if isinstance(size, int) else 0, blob)
    if event.payload is not None:
        return SealedValue(len(event.payload))
    return None


class RunCodec:
    """Encrypts and decrypts one run's payloads; cheap to keep for the life of a warm process."""

    def __init__(self, world: World, run_id: str, data_key: bytes) -> None:
        self.world = world
        self.run_id = run_id
        self._cipher = DataKeyCipher(data_key)
        self.secret = hmac.new(data_key, b"steplane-run-secret", hashlib.sha256).digest()

    async def event(
        self,
        type: str,
        *,
        correlation_id: str | None = None,
        attrs: dict[str, Any] | None = None,
        data: bytes | None = None,
        created_at: float | None = None,
        inline_budget: list[int] | None = None,
    ) -> Event:
        """A new event whose `data` (serialized bytes) is sealed, checked against the event
        schema (engine/events.py) before anyone can store it.

        `inline_budget` is a one-item list of bytes still allowed inline in the batch being
        built; a payload that does not fit goes to the blob store even if it is small.
        """
        event_id = new_id("evt")
        attrs = dict(attrs or {})
        payload = None
        if data is not None:
            sealed = self._cipher.encrypt(data, aad(self.run_id, event_id))
            limit = self.world.limits.inline_payload_bytes
            if inline_budget is not None:
                limit = min(limit, inline_budget[0])
            if len(sealed) > limit:
                key = f"{self.run_id}/{event_id}"
                await self.world.blobs.put(key, sealed)
                attrs[BLOB_ATTR] = key
                attrs[BLOB_SIZE_ATTR] = len(sealed)
            else:
                payload = sealed
                if inline_budget is not None:
                    inline_budget[0] -= len(sealed)
        when = self.world.clock.time() if created_at is None else created_at
        event = Event(type, event_id, when, correlation_id, attrs, payload)
        check_new(event)
        return event

    async def open_bytes(self, event: Event) -> bytes | None:
        """The serialized payload of `event`, decrypted (None when it has none)."""
        context = f"run {self.run_id}, event {event.event_id} ({event.type})"
        where = sealed_value(event)
        if where is None:
            return None
        sealed = await self._blob(where.blob, context) if where.blob else event.payload
        assert sealed is not None
        return self._decrypt(event, sealed, context)

    def _decrypt(self, event: Event, sealed: bytes, context: str) -> bytes:
        return self._cipher.decrypt(sealed, aad(self.run_id, event.event_id), context=context)

    async def _blob(self, key: str, context: str) -> bytes:
        try:
            return await self.world.blobs.get(key)
        except KeyError:  # deleted behind our back (a lifecycle rule, a hand): the log is broken
            raise CorruptedDataError(
                f"the payload of {context} is missing: no blob {key!r} in the blob store"
            ) from None

    def open_inline(self, event: Event) -> tuple[bool, Any]:
        """(True, the value) when `event`'s value can be opened without I/O (inline, or no
        value at all); (False, None) when it is in the blob store (then `open`). Lets a replay
        feed thousands of recorded results without a coroutine each."""
        if isinstance(event.attrs.get(BLOB_ATTR), str):
            return False, None  # in the blob store (`sealed_value`)
        if event.payload is None:
            return True, None
        context = f"run {self.run_id}, event {event.event_id} ({event.type})"
        return True, serde.loads(self._decrypt(event, event.payload, context))

    async def open(self, event: Event) -> Any:
        """The user value carried by `event`, decrypted and deserialized."""
        data = await self.open_bytes(event)
        return None if data is None else serde.loads(data)

    def seal_chunk(self, stream: str, data: bytes) -> bytes:
        return self._cipher.encrypt(data, aad(self.run_id, "stream", stream))

    def open_chunk(self, stream: str, sealed: bytes) -> bytes:
        context = f"run {self.run_id}, stream {stream!r}"
        return self._cipher.decrypt(sealed, aad(self.run_id, "stream", stream), context=context)


class CodecCache:
    """Data keys are fetched (KMS Decrypt on AWS) once per run per warm process."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._codecs: collections.OrderedDict[str, RunCodec] = collections.OrderedDict()

    def remember(self, codec: RunCodec) -> None:
        self._codecs[codec.run_id] = codec
        self._codecs.move_to_end(codec.run_id)
        while len(self._codecs) > _KEY_CACHE_SIZE:
            self._codecs.popitem(last=False)

    def forget(self, run_id: str) -> None:
        """Drop a cached codec (a key made for a run record that another writer created)."""
        self._codecs.pop(run_id, None)

    async def get(self, run_id: str) -> RunCodec:
        codec = self._codecs.get(run_id)
        if codec is not None:
            self._codecs.move_to_end(run_id)
            return codec
        record = await self.world.runs.get(run_id)
        if record is None:
            raise RunNotFoundError(f"no run {run_id!r} in this World")
        if record.encrypted_data_key is None:
            raise RunNotFoundError(f"run {run_id!r} has no data key on its record")
        data_key = await self.world.keys.decrypt_data_key(run_id, record.encrypted_data_key)
        codec = RunCodec(self.world, run_id, data_key)
        self.remember(codec)
        return codec

    async def create(self, run_id: str) -> tuple[RunCodec, bytes]:
        """A codec with a fresh data key for a new run, and the key's encrypted copy."""
        data_key, encrypted = await self.world.keys.generate_data_key(run_id)
        codec = RunCodec(self.world, run_id, data_key)
        self.remember(codec)
        return codec, encrypted


def codecs_for(world: World) -> CodecCache:
    """The process-wide codec cache of a World (kept on the World, so it dies with it)."""
    cache = getattr(world, "_steplane_codecs", None)
    if cache is None:
        cache = CodecCache(world)
        world._steplane_codecs = cache  # type: ignore[attr-defined]
    return cache
