"""Staff passwords: argon2id hashes, a strength rule, and constant-work checks.

argon2-cffi's ``PasswordHasher`` defaults are RFC 9106's low-memory profile (argon2id, t=3,
m=64 MiB, p=4). ``needs_rehash`` lets a login upgrade a hash made under older parameters.
For an unknown username the login still verifies against a dummy hash, so "no such account" and
"wrong password" take the same time and look the same (no account enumeration).

``STAFF_PASSWORD_HASH_PROFILE`` picks the parameters: ``rfc9106_low_memory`` (the default, and the only one
production accepts) or ``test`` (argon2-cffi's cheapest profile, so a test suite that logs staff in hundreds
of times does not spend minutes hashing; the tests' config uses it).
"""

from __future__ import annotations

import functools
import secrets
from typing import Any

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app, has_app_context

from app.core.errors import ValidationFailed
from app.core.i18n import _l

MIN_LENGTH = 12
MAX_LENGTH = 128  # argon2 takes anything, but an unbounded body is a cheap way to burn CPU
MIN_DISTINCT_CHARS = 5

HASH_PROFILES = {"rfc9106_low_memory": profiles.RFC_9106_LOW_MEMORY, "test": profiles.CHEAPEST}


@functools.cache
def _hasher_for(profile: str) -> PasswordHasher:
    return PasswordHasher.from_parameters(HASH_PROFILES[profile])


def _profile() -> str:
    return current_app.config["STAFF_PASSWORD_HASH_PROFILE"] if has_app_context() else "rfc9106_low_memory"


def _hasher() -> PasswordHasher:
    return _hasher_for(_profile())


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    try:
        return _hasher().check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


@functools.cache
def _dummy_hash_for(profile: str) -> str:
    return _hasher_for(profile).hash(secrets.token_urlsafe(24))


def _dummy_hash() -> str:
    """A hash of nothing anyone knows, made once per parameter profile, to verify unknown accounts against."""
    return _dummy_hash_for(_profile())


def burn_verification(password: str) -> None:
    """The same work as a real check, for logins that fail before one (unknown or locked account)."""
    verify_password(_dummy_hash(), password)


def password_problem(password: str, username: str | None = None) -> Any:
    """Why ``password`` is too weak for a staff account, or None."""
    if len(password) < MIN_LENGTH:
        return _l("At least %(count)s characters.", count=MIN_LENGTH)
    if len(password) > MAX_LENGTH:
        return _l("At most %(count)s characters.", count=MAX_LENGTH)
    if len(set(password)) < MIN_DISTINCT_CHARS:
        return _l("At least %(count)s different characters.", count=MIN_DISTINCT_CHARS)
    if username and username.lower() in password.lower():
        return _l("Must not contain the username.")
    return None


def check_strength(password: str, username: str | None = None, *, field: str = "password") -> None:
    problem = password_problem(password, username)
    if problem:
        raise ValidationFailed("The password is too weak.", code="weak_password",
                               details={"fields": [{"field": field, "location": "body", "message": problem,
                                                    "type": "weak_password"}]})
