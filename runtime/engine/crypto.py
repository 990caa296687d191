"""AES-256-GCM for everything steplane stores, bound to where it is stored.

Blob format: 1 version byte (0x01), 12-byte random nonce, then ciphertext with its 16-byte tag.
The associated data (see `aad`) names the blob's place (run, event, ...), so a ciphertext copied
to another place fails authentication instead of decrypting as the wrong record.
"""

from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from steplane.runtime.errors import CorruptedDataError

VERSION = 0x01
NONCE_SIZE = 12
TAG_SIZE = 16
SEAL_OVERHEAD = 1 + NONCE_SIZE + TAG_SIZE
"""Bytes a sealed payload has beyond its plaintext."""
KEY_SIZE = 32


class DataKeyCipher:
    """Encrypts and decrypts with one 256-bit data key."""

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, (bytes, bytearray)) or len(key) != KEY_SIZE:
            size = len(key) if isinstance(key, (bytes, bytearray)) else type(key).__qualname__
            raise ValueError(f"data key must be {KEY_SIZE} bytes for AES-256-GCM, got {size}")
        self._aesgcm = AESGCM(bytes(key))

    def __repr__(self) -> str:
        return "DataKeyCipher(<key hidden>)"

    def encrypt(self, plaintext: bytes, aad: bytes) -> bytes:
        """Seal `plaintext` with a fresh random nonce; `aad` must be given again to decrypt."""
        nonce = os.urandom(NONCE_SIZE)
        return bytes([VERSION]) + nonce + self._aesgcm.encrypt(nonce, plaintext, aad)

    def decrypt(self, blob: bytes, aad: bytes, context: str = "") -> bytes:
        """Open a blob from `encrypt`; CorruptedDataError, naming `context`, if it is not intact."""
        where = f" ({context})" if context else ""
        if len(blob) < SEAL_OVERHEAD:
            raise CorruptedDataError(
                f"cannot decrypt stored data{where}: it is {len(blob)} bytes, "
                f"shorter than the {SEAL_OVERHEAD}-byte minimum (truncated)"
            )
        if blob[0] != VERSION:
            raise CorruptedDataError(
                f"cannot decrypt stored data{where}: unknown format version {blob[0]:#04x}"
            )
        nonce = blob[1 : 1 + NONCE_SIZE]
        try:
            return self._aesgcm.decrypt(nonce, blob[1 + NONCE_SIZE :], aad)
        except InvalidTag:
            raise CorruptedDataError(
                f"cannot decrypt stored data{where}: authentication failed "
                "(wrong key, tampered bytes, or data moved from another place)"
            ) from None


def aad(*parts: str) -> bytes:
    """Associated data naming a place: each part UTF-8 encoded with a 4-byte big-endian length,
    so ("ab", "c") and ("a", "bc") can never collide."""
    out = bytearray()
    for part in parts:
        if not isinstance(part, str):
            raise TypeError(f"aad parts must be str, got {type(part).__qualname__}")
        encoded = part.encode("utf-8")
        out += struct.pack(">I", len(encoded)) + encoded
    return bytes(out)
