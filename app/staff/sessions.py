"""Server-side staff sessions: creation with a per-account limit, idle timeout, absolute max age.

The cookie carries a random token; the database keeps only its SHA-256. The CSRF token is an HMAC
of the session token under a server key: the page reads it from the login answer (never from the
HttpOnly cookie), and checking it needs nothing stored.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timedelta
from enum import StrEnum

from flask import current_app
from sqlalchemy import select

from app.core.crypto import lookup_hash, token_hash
from app.core.db import utcnow
from app.extensions import db
from app.staff.models import StaffAccount, StaffSession


class RevokeReason(StrEnum):
    LOGOUT = "logout"
    IDLE_TIMEOUT = "idle_timeout"
    EXPIRED = "expired"
    SESSION_LIMIT = "session_limit"  # a newer login pushed this one out
    REPLACED = "replaced"  # the same browser logged in again
    DISABLED = "disabled"
    ROLES_CHANGED = "roles_changed"
    TOTP_RESET = "totp_reset"


def new_token() -> str:
    return "mhs_" + secrets.token_urlsafe(32)


def csrf_token_for(token: str) -> str:
    return lookup_hash(token, "staff.csrf")


def csrf_matches(token: str, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(csrf_token_for(token), presented or "")


def idle_timeout() -> timedelta:
    return timedelta(seconds=current_app.config["STAFF_SESSION_IDLE_TIMEOUT_S"])


def stale_reason(session: StaffSession, now: datetime) -> RevokeReason | None:
    """Why a not-yet-revoked session can no longer be used, or None while it is live."""
    if session.expires_at <= now:
        return RevokeReason.EXPIRED
    if session.last_seen_at + idle_timeout() <= now:
        return RevokeReason.IDLE_TIMEOUT
    return None


def revoke(session: StaffSession, reason: RevokeReason, now: datetime | None = None) -> None:
    if session.revoked_at is None:
        session.revoked_at = now or utcnow()
        session.revoked_reason = reason


def live_sessions(staff: StaffAccount) -> list[StaffSession]:
    """The account's unrevoked sessions, newest first; stale ones are revoked on the way."""
    now = utcnow()
    rows = db.session.scalars(
        select(StaffSession).where(StaffSession.staff_id == staff.id, StaffSession.revoked_at.is_(None))
        .order_by(StaffSession.created_at.desc(), StaffSession.id.desc())
    ).all()
    live = []
    for row in rows:
        reason = stale_reason(row, now)
        if reason:
            revoke(row, reason, now)
        else:
            live.append(row)
    return live


def revoke_all(staff: StaffAccount, reason: RevokeReason) -> int:
    """Revoke every session of ``staff``; returns how many were live."""
    live = live_sessions(staff)
    for row in live:
        revoke(row, reason)
    return len(live)


def create(staff: StaffAccount, ip: str | None) -> str:
    """A new session for ``staff`` (caller commits); the oldest live ones beyond the limit are revoked."""
    now = utcnow()
    token = new_token()
    config = current_app.config
    db.session.add(StaffSession(staff_id=staff.id, token_hash=token_hash(token), created_at=now, last_seen_at=now,
                                expires_at=now + timedelta(seconds=config["STAFF_SESSION_MAX_AGE_S"]),
                                ip=(ip or None) and ip[:64]))
    db.session.flush()
    limit = max(int(config["STAFF_MAX_SESSIONS"]), 1)
    for old in live_sessions(staff)[limit:]:
        revoke(old, RevokeReason.SESSION_LIMIT, now)
    return token


def find(token: str) -> StaffSession | None:
    return db.session.scalar(select(StaffSession).where(StaffSession.token_hash == token_hash(token)))
