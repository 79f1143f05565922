"""Login sessions: random bearer tokens stored hashed, expiring, capped per user, revocable."""

from __future__ import annotations

import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from app.accounts.models import Device, LoginSession, User
from app.core.crypto import token_hash
from app.core.db import utcnow
from app.extensions import db

TOKEN_PREFIX = "mh_"  # noqa: S105 - a marker, not a secret


class RevokeReason:
    LOGOUT = "logout"
    USER_REVOKED = "user_revoked"
    EVICTED = "evicted"  # the oldest session when the user went past MAX_SESSIONS_PER_USER
    BLOCKED = "blocked"
    MERGED = "account_merged"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def start_session(user: User, method: str, device: Device | None) -> tuple[LoginSession, str]:
    """Create a session (in the caller's transaction) and evict the oldest beyond the cap.

    The user row is locked first so two concurrent logins cannot both slip under the cap.
    """
    db.session.execute(select(User.id).where(User.id == user.id).with_for_update())
    token = new_token()
    now = utcnow()
    session = LoginSession(
        user_id=user.id, token_hash=token_hash(token), method=method, device=device,
        created_at=now, last_seen_at=now,
        expires_at=now + timedelta(days=current_app.config["SESSION_TTL_DAYS"]),
    )
    db.session.add(session)
    db.session.flush()
    active = active_sessions(user.id)
    excess = len(active) - current_app.config["MAX_SESSIONS_PER_USER"]
    for old in active[:max(0, excess)]:
        revoke(old, RevokeReason.EVICTED)
    user.last_login_at = now
    return session, token


def active_sessions(user_id: int) -> list[LoginSession]:
    """Oldest first."""
    return list(db.session.scalars(
        select(LoginSession)
        .where(LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None),
               LoginSession.expires_at > utcnow())
        .order_by(LoginSession.created_at, LoginSession.id)
    ))


def revoke(session: LoginSession, reason: str) -> None:
    if session.revoked_at is None:
        session.revoked_at = utcnow()
        session.revoked_reason = reason


def revoke_all(user_id: int, reason: str, *, except_session_id: int | None = None) -> int:
    conditions = [LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None)]
    if except_session_id is not None:
        conditions.append(LoginSession.id != except_session_id)
    result = db.session.execute(
        update(LoginSession).where(*conditions).values(revoked_at=utcnow(), revoked_reason=reason)
    )
    return result.rowcount or 0


def resolve_token(token: str) -> LoginSession | None:
    """The live session behind a bearer token, or None (unknown, expired, revoked)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 128:
        return None
    session = db.session.scalar(select(LoginSession).where(LoginSession.token_hash == token_hash(token)))
    if session is None or session.revoked_at is not None or session.expires_at <= utcnow():
        return None
    return session


def touch(session: LoginSession) -> None:
    """Record activity at most once per SESSION_TOUCH_INTERVAL_S (not a write on every request)."""
    now = utcnow()
    interval = timedelta(seconds=current_app.config["SESSION_TOUCH_INTERVAL_S"])
    if now - session.last_seen_at >= interval:
        db.session.execute(update(LoginSession).where(LoginSession.id == session.id).values(last_seen_at=now))
        db.session.commit()


