"""Encryption of sensitive data at rest, and keyed hashes for looking it up.

- Fields (phone numbers, WeChat session keys, openids) are sealed with AES-256-GCM under the current
  key-encryption key. Every ciphertext names the key id that sealed it, so a new key can be
  introduced without downtime: set the new ``ENCRYPTION_KEY``/``ENCRYPTION_KEY_ID`` and move the old
  one to ``ENCRYPTION_OLD_KEYS``; old rows still decrypt and are re-sealed under the new key as
  they are rewritten.
- The associated data names what the value is (``"user.phone"``), so a ciphertext copied into
  another column does not decrypt.
- Lookups (find the user with this phone) use an HMAC-SHA256 keyed hash under ``LOOKUP_HASH_KEY``,
  which never rotates casually: the database holds no plain value to search.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app

_FORMAT = b"\x01"  # ciphertext layout version
_NONCE_BYTES = 12


class DecryptionError(Exception):
    """A ciphertext that is corrupt, tampered with, or sealed under a key we no longer hold."""


def decode_key(encoded: str, name: str = "key") -> bytes:
    try:
        raw = base64.urlsafe_b64decode(encoded.encode() + b"=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"{name} is not valid base64") from exc
    if len(raw) != 32:
        raise ValueError(f"{name} must decode to 32 bytes, got {len(raw)}")
    return raw


def generate_key() -> str:
    """A new 32-byte key in the form the configuration expects."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


@dataclass(frozen=True)
class Keyring:
    current_id: str
    keys: dict[str, bytes]

    @classmethod
    def from_config(cls, current_key: str, current_id: str, old_keys: str | None) -> Keyring:
        keys = {current_id: decode_key(current_key, "ENCRYPTION_KEY")}
        for item in filter(None, (part.strip() for part in (old_keys or "").split(","))):
            key_id, _, encoded = item.partition(":")
            if not key_id or not encoded:
                raise ValueError("ENCRYPTION_OLD_KEYS entries look like 'keyid:base64key'")
            keys[key_id] = decode_key(encoded, f"ENCRYPTION_OLD_KEYS[{key_id}]")
        if len(current_id.encode()) > 255:
            raise ValueError("ENCRYPTION_KEY_ID is too long")
        return cls(current_id=current_id, keys=keys)

    def seal(self, plaintext: bytes, purpose: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        key_id = self.current_id.encode()
        header = _FORMAT + bytes([len(key_id)]) + key_id
        sealed = AESGCM(self.keys[self.current_id]).encrypt(nonce, plaintext, header + purpose.encode())
        return header + nonce + sealed

    def open(self, ciphertext: bytes, purpose: str) -> bytes:
        try:
            if ciphertext[:1] != _FORMAT:
                raise DecryptionError("unknown ciphertext format")
            id_len = ciphertext[1]
            key_id = ciphertext[2:2 + id_len].decode()
            header = ciphertext[:2 + id_len]
            nonce = ciphertext[2 + id_len:2 + id_len + _NONCE_BYTES]
            body = ciphertext[2 + id_len + _NONCE_BYTES:]
        except (IndexError, UnicodeDecodeError) as exc:
            raise DecryptionError("truncated ciphertext") from exc
        key = self.keys.get(key_id)
        if key is None:
            raise DecryptionError(f"no key with id {key_id!r} (was it removed from ENCRYPTION_OLD_KEYS?)")
        if len(nonce) != _NONCE_BYTES:
            raise DecryptionError("truncated ciphertext")
        try:
            return AESGCM(key).decrypt(nonce, body, header + purpose.encode())
        except InvalidTag as exc:
            raise DecryptionError("ciphertext failed authentication") from exc

    def key_id_of(self, ciphertext: bytes) -> str:
        return ciphertext[2:2 + ciphertext[1]].decode()


def keyring() -> Keyring:
    app = current_app
    ring = app.extensions.get("keyring")
    if ring is None:
        ring = app.extensions["keyring"] = Keyring.from_config(
            app.config["ENCRYPTION_KEY"], app.config["ENCRYPTION_KEY_ID"], app.config.get("ENCRYPTION_OLD_KEYS")
        )
    return ring


def seal_text(value: str, purpose: str) -> bytes:
    return keyring().seal(value.encode("utf-8"), purpose)


def open_text(ciphertext: bytes, purpose: str) -> str:
    return keyring().open(ciphertext, purpose).decode("utf-8")


def lookup_hash(value: str, purpose: str) -> str:
    """Deterministic keyed hash for equality lookups (hex, 64 chars); ``purpose`` separates domains."""
    key = current_app.config["LOOKUP_HASH_KEY"].encode()
    return hmac.new(key, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()


def token_hash(token: str) -> str:
    """Hash of a high-entropy random token (login tokens): plain SHA-256 is enough and fast."""
    return hashlib.sha256(token.encode()).hexdigest()
