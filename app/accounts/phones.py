"""Phone numbers: validation, masking, sealing. The plain number lives only in memory."""

from __future__ import annotations

import re

from app.core.crypto import lookup_hash, open_text, seal_text

MAINLAND_MOBILE = re.compile(r"^1[3-9]\d{9}$")
PHONE_PURPOSE = "user.phone"


def normalise(phone: str, country_code: str = "86") -> str:
    """E.164-like key used for hashing: ``+86 13812345678`` → ``86-13812345678``."""
    digits = re.sub(r"[\s-]", "", phone)
    if digits.startswith("+86"):
        digits = digits[3:]
    return f"{country_code}-{digits}"


def is_valid_mainland_mobile(phone: str) -> bool:
    return bool(MAINLAND_MOBILE.match(phone))


def mask(phone: str) -> str:
    """``13812341234`` → ``138****1234`` (what every screen shows)."""
    if len(phone) < 7:
        return "*" * len(phone)
    return f"{phone[:3]}{'*' * (len(phone) - 7)}{phone[-4:]}"


def phone_hash(phone: str, country_code: str = "86") -> str:
    return lookup_hash(normalise(phone, country_code), PHONE_PURPOSE)


def seal_phone(phone: str, country_code: str = "86") -> bytes:
    return seal_text(normalise(phone, country_code), PHONE_PURPOSE)


def open_phone(ciphertext: bytes) -> str:
    return open_text(ciphertext, PHONE_PURPOSE).split("-", 1)[1]
