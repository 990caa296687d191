"""Per-run data keys from KMS (envelope encryption, docs/invariants.md #5).

`GenerateDataKey(AES_256)` with `{"run_id": run_id}` as EncryptionContext: KMS binds the
encrypted copy to its run, so a key copied onto another run's record fails to decrypt. Nothing
is cached here; the engine keeps decrypted keys per warm process (runtime/engine/codec.py).
"""

from __future__ import annotations

from steplane.runtime.errors import CorruptedDataError

from .clients import AwsClients, error_code

_BAD_CIPHERTEXT = {"InvalidCiphertextException", "IncorrectKeyException", "ValidationException"}


class KmsKeyProvider:
    def __init__(self, aws: AwsClients) -> None:
        self._aws = aws
        self._key_id = aws.config.kms_key

    async def generate_data_key(self, run_id: str) -> tuple[bytes, bytes]:
        answer = await self._aws.call(
            self._aws.kms.generate_data_key,
            KeyId=self._key_id,
            KeySpec="AES_256",
            EncryptionContext={"run_id": run_id},
        )
        return bytes(answer["Plaintext"]), bytes(answer["CiphertextBlob"])

    async def decrypt_data_key(self, run_id: str, encrypted: bytes) -> bytes:
        try:
            answer = await self._aws.call(
                self._aws.kms.decrypt,
                CiphertextBlob=bytes(encrypted),
                KeyId=self._key_id,
                EncryptionContext={"run_id": run_id},
            )
        except Exception as error:
            if error_code(error) in _BAD_CIPHERTEXT:
                raise CorruptedDataError(
                    f"the data key of run {run_id} failed its integrity check "
                    f"(tampered, or made for another run or key): {error_code(error)}"
                ) from None
            raise
        plaintext = bytes(answer["Plaintext"])
        if len(plaintext) != 32:
            raise CorruptedDataError(f"the data key of run {run_id} is not a 256-bit key")
        return plaintext
