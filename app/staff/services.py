"""Staff login: password, lock-out, TOTP second factor, and enrolment of that factor.

Failures are indistinguishable to the caller: an unknown username, a wrong password and a disabled
account with a wrong password all answer 401 ``invalid_credentials`` after the same argon2 work.
After ``STAFF_LOCKOUT_ATTEMPTS`` failures (wrong password or wrong TOTP code) the account is locked
for ``STAFF_LOCKOUT_S`` (423 ``staff_locked``). Unknown usernames get the same treatment through a
Redis counter, so a lock-out does not reveal that an account exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from flask import current_app
from sqlalchemy import select

from app.core.crypto import lookup_hash, open_text, seal_text
from app.core.db import utcnow
from app.core.errors import ApiError, AuthenticationRequired, Conflict, Forbidden, ValidationFailed
from app.core.jobs import redis_connection
from app.extensions import db
from app.staff import audit, passwords, sessions
from app.staff.models import StaffAccount

TOTP_PURPOSE = "staff.totp_secret"
TOTP_PENDING_PURPOSE = "staff.totp_pending"


class InvalidCredentials(AuthenticationRequired):
    code, message = "invalid_credentials", "Wrong username or password."


class StaffLocked(ApiError):
    status, code, message = 423, "staff_locked", "Too many failed attempts; try again later."


class StaffDisabled(Forbidden):
    code, message = "staff_disabled", "This staff account is disabled."


class TotpRequired(AuthenticationRequired):
    code, message = "totp_required", "Enter the code from your authenticator app."


class InvalidTotp(AuthenticationRequired):
    code, message = "invalid_totp", "The authenticator code is wrong or was already used."


class TotpAlreadyEnrolled(Conflict):
    code, message = "totp_already_enrolled", "A second factor is already set up; an admin can reset it."


class TotpNotStarted(Conflict):
    code, message = "totp_enrolment_not_started", "Start the enrolment first."


def normalise_username(username: str) -> str:
    return username.strip().lower()


@dataclass(frozen=True)
class LoginResult:
    staff: StaffAccount
    token: str


def _lockout_window() -> tuple[int, timedelta]:
    config = current_app.config
    return int(config["STAFF_LOCKOUT_ATTEMPTS"]), timedelta(seconds=int(config["STAFF_LOCKOUT_S"]))


def _unknown_user_key(username: str) -> str:
    return "staff:login-failures:" + lookup_hash(username, "staff.username")


def _fail_unknown(username: str) -> None:
    attempts, window = _lockout_window()
    key = _unknown_user_key(username)
    redis = redis_connection()
    failures = int(redis.incr(key))
    if failures == 1:
        redis.expire(key, int(window.total_seconds()))
    audit.record("staff.login_failed", "staff", None, details={"reason": "unknown_account"})
    db.session.commit()
    if failures > attempts:
        raise StaffLocked()
    raise InvalidCredentials()


def _unknown_is_locked(username: str) -> bool:
    attempts, _ = _lockout_window()
    value = redis_connection().get(_unknown_user_key(username))
    return value is not None and int(value) >= attempts


def _fail_known(staff: StaffAccount, reason: str, error: ApiError) -> None:
    attempts, window = _lockout_window()
    staff.failed_attempts += 1
    audit.record("staff.login_failed", "staff", staff.username, details={"reason": reason}, actor=staff)
    if staff.failed_attempts >= attempts:
        staff.locked_until = utcnow() + window
        staff.failed_attempts = 0
        audit.record("staff.locked", "staff", staff.username,
                     details={"until": staff.locked_until.isoformat(), "attempts": attempts}, actor=staff)
    db.session.commit()
    raise error


def _is_locked(staff: StaffAccount, now: datetime) -> bool:
    return staff.locked_until is not None and staff.locked_until > now


def login(username: str, password: str, totp_code: str | None, ip: str | None,
          previous_token: str | None = None) -> LoginResult:
    """Check the credentials and open a session (committed), or raise with every failure audit-logged.

    ``previous_token`` is the staff cookie the browser still sent, if any: a successful login ends
    that older session (a browser holds one session at a time; it must not linger until idle).
    """
    username = normalise_username(username)
    staff = db.session.scalar(select(StaffAccount).where(StaffAccount.username == username).with_for_update())
    now = utcnow()
    if staff is None:
        passwords.burn_verification(password)
        if _unknown_is_locked(username):
            audit.record("staff.login_failed", "staff", None, details={"reason": "locked"})
            db.session.commit()
            raise StaffLocked()
        _fail_unknown(username)
    assert staff is not None
    if _is_locked(staff, now):
        passwords.burn_verification(password)
        audit.record("staff.login_failed", "staff", staff.username, details={"reason": "locked"}, actor=staff)
        db.session.commit()
        raise StaffLocked(details={"retry_after": int((staff.locked_until - now).total_seconds()) + 1})
    if not passwords.verify_password(staff.password_hash, password):
        _fail_known(staff, "wrong_password", InvalidCredentials())
    if staff.is_disabled:
        audit.record("staff.login_failed", "staff", staff.username, details={"reason": "disabled"}, actor=staff)
        db.session.commit()
        raise StaffDisabled()
    if staff.totp_enabled:
        if not totp_code:
            raise TotpRequired()
        step = matching_totp_step(open_text(staff.totp_secret_ciphertext, TOTP_PURPOSE), totp_code,
                                  after=staff.totp_last_step)
        if step is None:
            _fail_known(staff, "wrong_totp", InvalidTotp())
        staff.totp_last_step = step
    if passwords.needs_rehash(staff.password_hash):
        staff.password_hash = passwords.hash_password(password)
    staff.failed_attempts = 0
    staff.locked_until = None
    staff.last_login_at = now
    previous = sessions.find(previous_token) if previous_token else None
    if previous is not None:
        sessions.revoke(previous, sessions.RevokeReason.REPLACED, now)
    token = sessions.create(staff, ip)
    audit.record("staff.login", "staff", staff.username, actor=staff,
                 details={"second_factor": staff.totp_enabled})
    db.session.commit()
    return LoginResult(staff=staff, token=token)


def logout(session) -> None:
    sessions.revoke(session, sessions.RevokeReason.LOGOUT)
    audit.record("staff.logout", "staff", session.staff.username)


def matching_totp_step(secret: str, code: str, *, after: int | None) -> int | None:
    """The time step ``code`` belongs to (now ±1 step, as ``valid_window=1``), if newer than ``after``."""
    code = code.strip().replace(" ", "")
    if not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now = utcnow()
    current = totp.timecode(now)
    for offset in (-1, 0, 1):
        step = current + offset
        if after is not None and step <= after:
            continue  # a code already used (or an older one) is a replay
        if pyotp.utils.strings_equal(totp.generate_otp(step), code):
            return step
    return None


@dataclass(frozen=True)
class TotpEnrolment:
    secret: str
    otpauth_uri: str


def begin_totp(staff: StaffAccount) -> TotpEnrolment:
    if staff.totp_enabled:
        raise TotpAlreadyEnrolled()
    secret = pyotp.random_base32()
    staff.totp_pending_ciphertext = seal_text(secret, TOTP_PENDING_PURPOSE)
    uri = pyotp.TOTP(secret).provisioning_uri(name=staff.username,
                                              issuer_name=current_app.config["STAFF_TOTP_ISSUER"])
    audit.record("staff.totp_begin", "staff", staff.username)
    return TotpEnrolment(secret=secret, otpauth_uri=uri)


def confirm_totp(staff: StaffAccount, code: str) -> None:
    if staff.totp_enabled:
        raise TotpAlreadyEnrolled()
    if staff.totp_pending_ciphertext is None:
        raise TotpNotStarted()
    secret = open_text(staff.totp_pending_ciphertext, TOTP_PENDING_PURPOSE)
    step = matching_totp_step(secret, code, after=None)
    if step is None:  # 422, not 401: the staff is logged in, only the code is wrong
        raise ValidationFailed("The authenticator code is wrong; check the phone's clock.", code="invalid_totp")
    staff.totp_secret_ciphertext = seal_text(secret, TOTP_PURPOSE)
    staff.totp_pending_ciphertext = None
    staff.totp_enabled_at = utcnow()
    staff.totp_last_step = step
    audit.record("staff.totp_enrolled", "staff", staff.username)


def find_by_username(username: str) -> StaffAccount | None:
    """The staff account of this username (normalised), or None — for other domains (ticket assignment)."""
    return db.session.scalar(select(StaffAccount).where(StaffAccount.username == normalise_username(username)))


def usernames_of(ids) -> dict[int, str]:
    """Staff id → username, for the ids given (None ignored)."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(db.session.execute(select(StaffAccount.id, StaffAccount.username)
                                   .where(StaffAccount.id.in_(wanted))).tuples().all())
