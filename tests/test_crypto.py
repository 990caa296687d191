"""AES-256-GCM blobs: they open with the right key and place, and fail loudly otherwise."""

from __future__ import annotations

import os

import pytest

from runtime.engine.crypto import DataKeyCipher, aad
from runtime.errors import CorruptedDataError

KEY = bytes(range(32))
AAD = aad("run_01H", "evt_01H")


@pytest.fixture
def cipher() -> DataKeyCipher:
    return DataKeyCipher(KEY)


@pytest.mark.parametrize("plaintext", [b"", b"hello", os.urandom(100_000)], ids=len)
def test_round_trip(cipher: DataKeyCipher, plaintext: bytes) -> None:
    blob = cipher.encrypt(plaintext, AAD)
    assert blob[0] == 0x01
    assert len(blob) == 1 + 12 + len(plaintext) + 16
    assert cipher.decrypt(blob, AAD) == plaintext


def test_nonces_are_fresh(cipher: DataKeyCipher) -> None:
    assert cipher.encrypt(b"same", AAD) != cipher.encrypt(b"same", AAD)


def test_another_cipher_with_the_same_key_decrypts(cipher: DataKeyCipher) -> None:
    assert DataKeyCipher(bytearray(KEY)).decrypt(cipher.encrypt(b"x", AAD), AAD) == b"x"


@pytest.mark.parametrize("key", [b"", b"k" * 16, b"k" * 31, b"k" * 33, "k" * 32])
def test_key_must_be_32_bytes(key: bytes) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        DataKeyCipher(key)


def test_repr_hides_the_key(cipher: DataKeyCipher) -> None:
    assert KEY.hex() not in repr(cipher) and str(KEY) not in repr(cipher)


def _flip(blob: bytes, index: int) -> bytes:
    return blob[:index] + bytes([blob[index] ^ 0x01]) + blob[index + 1 :]


def test_tampered_ciphertext(cipher: DataKeyCipher) -> None:
    blob = cipher.encrypt(b"secret payload", AAD)
    for index in (1, 13, len(blob) - 1):  # nonce, ciphertext, tag
        with pytest.raises(CorruptedDataError, match="authentication failed"):
            cipher.decrypt(_flip(blob, index), AAD)


def test_aad_of_another_place(cipher: DataKeyCipher) -> None:
    blob = cipher.encrypt(b"secret", AAD)
    with pytest.raises(CorruptedDataError, match=r"\(run run_01H, event evt_02\).*authentication"):
        cipher.decrypt(blob, aad("run_01H", "evt_02"), context="run run_01H, event evt_02")


def test_wrong_key(cipher: DataKeyCipher) -> None:
    blob = cipher.encrypt(b"secret", AAD)
    with pytest.raises(CorruptedDataError, match="wrong key"):
        DataKeyCipher(b"\x00" * 32).decrypt(blob, AAD)


@pytest.mark.parametrize("length", [0, 1, 13, 28])
def test_truncated(cipher: DataKeyCipher, length: int) -> None:
    blob = cipher.encrypt(b"", AAD)[:length]
    with pytest.raises(CorruptedDataError, match="truncated"):
        cipher.decrypt(blob, AAD)


def test_truncated_but_long_enough_fails_authentication(cipher: DataKeyCipher) -> None:
    blob = cipher.encrypt(b"a longer secret", AAD)
    with pytest.raises(CorruptedDataError, match="authentication failed"):
        cipher.decrypt(blob[:-1], AAD)


def test_unknown_version(cipher: DataKeyCipher) -> None:
    blob = b"\x02" + cipher.encrypt(b"x", AAD)[1:]
    with pytest.raises(CorruptedDataError, match="unknown format version 0x02"):
        cipher.decrypt(blob, AAD)


def test_messages_are_one_line(cipher: DataKeyCipher) -> None:
    with pytest.raises(CorruptedDataError) as info:
        cipher.decrypt(b"\x01" * 40, AAD, context="run r")
    assert "\n" not in str(info.value)


def test_aad_is_unambiguous() -> None:
    assert aad("ab", "c") != aad("a", "bc")
    assert aad("a\x1fb") != aad("a", "b")
    assert aad() != aad("")
    assert aad("run", "é") == b"\x00\x00\x00\x03run\x00\x00\x00\x02\xc3\xa9"


def test_aad_parts_must_be_str() -> None:
    with pytest.raises(TypeError):
        aad("run", 1)  # type: ignore[arg-type]
