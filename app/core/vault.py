"""Envelope encryption of files (portraits, results, exports) at rest.

Each object gets a fresh 256-bit data key. The file is sealed with AES-256-GCM under that data key,
with the object id as associated data (a file copied under another object's id does not decrypt).
The data key is wrapped by the key-encryption key (KEK) of the keyring — with the object id as
associated data too — and the wrapped key is stored in the database row, never next to the file.

- Crypto-shredding: deleting an object drops its wrapped data key; any copy of the file left in a
  backup or a lagging replica is unreadable from then on.
- Rotation: re-wrap every data key under the new KEK (``flask keys rewrap``); the files themselves
  are not rewritten, and the old KEK stays readable until that is done, so there is no downtime.
- A KMS can replace the keyring: anything with ``wrap``/``unwrap`` of this signature will do.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.core.crypto import DecryptionError, Keyring, keyring

_FORMAT = b"MHv1"
_NONCE = 12


class KeyEncryptionKeys(Protocol):
    def wrap(self, data_key: bytes, object_id: str) -> tuple[str, bytes]: ...
    def unwrap(self, kek_id: str, wrapped: bytes, object_id: str) -> bytes: ...


class KeyringKeks:
    """The local keyring as key-encryption keys (development and single-region deployments)."""

    def __init__(self, ring: Keyring) -> None:
        self.ring = ring

    def wrap(self, data_key: bytes, object_id: str) -> tuple[str, bytes]:
        return self.ring.current_id, self.ring.seal(data_key, f"dek:{object_id}")

    def unwrap(self, kek_id: str, wrapped: bytes, object_id: str) -> bytes:
        if self.ring.key_id_of(wrapped) != kek_id:
            raise DecryptionError("wrapped key and key id disagree")
        return self.ring.open(wrapped, f"dek:{object_id}")


def keks() -> KeyEncryptionKeys:
    return KeyringKeks(keyring())


@dataclass(frozen=True)
class SealedObject:
    ciphertext: bytes | bytearray  # what the object store keeps
    kek_id: str
    wrapped_key: bytes  # what the database row keeps


def seal(object_id: str, plaintext: bytes, kek: KeyEncryptionKeys | None = None) -> SealedObject:
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(_NONCE)
    # Encrypt straight into the final buffer: no extra copy of a multi-megabyte photo.
    header = len(_FORMAT) + _NONCE
    buffer = bytearray(header + len(plaintext) + 16)
    buffer[:header] = _FORMAT + nonce
    AESGCM(data_key).encrypt_into(nonce, plaintext, object_id.encode(), memoryview(buffer)[header:])
    kek_id, wrapped = (kek or keks()).wrap(data_key, object_id)
    return SealedObject(buffer, kek_id, wrapped)


def open_sealed(object_id: str, ciphertext: bytes, kek_id: str, wrapped_key: bytes,
                kek: KeyEncryptionKeys | None = None) -> bytes:
    if not ciphertext.startswith(_FORMAT) or len(ciphertext) < len(_FORMAT) + _NONCE + 16:
        raise DecryptionError("not a sealed object")
    data_key = (kek or keks()).unwrap(kek_id, wrapped_key, object_id)
    nonce = ciphertext[len(_FORMAT):len(_FORMAT) + _NONCE]
    try:
        return AESGCM(data_key).decrypt(nonce, ciphertext[len(_FORMAT) + _NONCE:], object_id.encode())
    except InvalidTag as exc:
        raise DecryptionError("object failed authentication (tampered, or another object's file)") from exc


def rewrap(object_id: str, kek_id: str, wrapped_key: bytes, kek: KeyEncryptionKeys | None = None) -> tuple[str, bytes]:
    """The same data key, wrapped under the current KEK."""
    kek = kek or keks()
    return kek.wrap(kek.unwrap(kek_id, wrapped_key, object_id), object_id)
