"""In-memory key provider: the KMS stand-in.

Data keys are wrapped with AES-256-GCM under a master key that lives and dies with the World,
with the run id as associated data, so a wrapped key copied to another run fails to unwrap
(the role KMS's EncryptionContext plays in production).
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from steplane.runtime.errors import CorruptedDataError

_NONCE_BYTES = 12


class MemoryKeyProvider:
    def __init__(self) -> None:
        self._master = AESGCM(AESGCM.generate_key(bit_length=256))

    async def generate_data_key(self, run_id: str) -> tuple[bytes, bytes]:
        plaintext = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(_NONCE_BYTES)
        wrapped = nonce + self._master.encrypt(nonce, plaintext, run_id.encode())
        return plaintext, wrapped

    async def decrypt_data_key(self, run_id: str, encrypted: bytes) -> bytes:
        nonce, ciphertext = encrypted[:_NONCE_BYTES], encrypted[_NONCE_BYTES:]
        try:
            if len(nonce) != _NONCE_BYTES:
                raise InvalidTag
            return self._master.decrypt(nonce, ciphertext, run_id.encode())
        except InvalidTag:
            raise CorruptedDataError(
                f"the data key of run {run_id} failed its integrity check "
                "(tampered, made for another run, or by another World)"
            ) from None
