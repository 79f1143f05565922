"""A WeChat login's writes as a few prebuilt Core statements (the hot path of accounts, issue #20).

The ORM unit of work cost a login ten statements and half its CPU (identity, user, the user row lock,
device select + insert + count, session insert, the active-session list, the last-login and session-key
updates). A returning user's login is now three statements on PostgreSQL, four on SQLite (five when the
session cap evicts there):

1. ``UPDATE wechat_identities SET session_key_ciphertext …, unionid_hash = COALESCE(…) RETURNING user_id``
   and ``UPDATE users SET last_login_at … RETURNING <user columns>`` — one statement on PostgreSQL (a
   data-modifying ``WITH``), two on SQLite. It finds the user and locks the identity's and the user's
   rows, in the order the ORM did: two concurrent logins of one user cannot both slip under the session
   cap (the second waits here, then its later statements see the first's session);
2. ``INSERT devices … ON CONFLICT (user_id, device_hash) DO UPDATE … RETURNING id, <how many other
   accounts have this device>`` — the risk rule's count rides along (``risk.record_device``);
3. ``INSERT login_sessions …`` and, past ``MAX_SESSIONS_PER_USER``, ``UPDATE login_sessions SET revoked_at
   … WHERE id IN (the user's live sessions but the newest MAX)`` — on PostgreSQL one statement (the
   eviction in a ``WITH``), on SQLite the insert returns how many other live sessions the user has and the
   eviction runs only when that is too many. After an eviction the user's auth epoch is renewed (after
   the commit).

A first login (or one joining the account of the same unionid) finds no identity in step 1 (which then
writes nothing) and inserts the user and the identity. Apart from the two PostgreSQL ``WITH``s, every statement
is valid on PostgreSQL and on SQLite >= 3.35 (RETURNING, ON CONFLICT); all run in the caller's transaction
(the ORM session's connection) and are built once, at import.

``last_login_at`` is written without renewing the user's auth epoch: the per-process auth cache holds
the column, but nothing reads it from ``current_user`` (the admin console and the data export load the
user themselves), and a new session changes no one's rights. An eviction does renew it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, bindparam, func, insert, select, text, update
from sqlalchemy.engine import Connection, Row
from sqlalchemy.orm.instrumentation import manager_of_class

from app.accounts.models import LoginSession, User, UserStatus, WechatIdentity, new_public_id
from app.core.db import UTCDateTime

_users = User.__table__
_identities = WechatIdentity.__table__
_sessions = LoginSession.__table__
_other_sessions = _sessions.alias("other_sessions")

# What the login answers with (and what the auth cache holds): every user column but these two.
_USER_COLUMNS = tuple(c for c in _users.c if c.key not in {"phone_ciphertext", "blocked_reason"})
_USER_MANAGER = manager_of_class(User)
_SESSION_MANAGER = manager_of_class(LoginSession)

_TOUCH_USER = (update(_users).where(_users.c.id == bindparam("user_id_"))
               .values(last_login_at=bindparam("now_"), updated_at=bindparam("now_"))
               .returning(*_USER_COLUMNS))
_INSERT_USER = (insert(_users)
                .values(public_id=bindparam("public_id_"), status=UserStatus.ACTIVE, created_at=bindparam("now_"),
                        updated_at=bindparam("now_"), last_login_at=bindparam("now_"))
                .returning(*_USER_COLUMNS))
_USER_OF_UNIONID = (select(_identities.c.user_id).where(_identities.c.unionid_hash == bindparam("unionid_hash_"))
                    .order_by(_identities.c.id).limit(1))
_SET_SESSION_KEY = (
    update(_identities)
    .where(_identities.c.appid == bindparam("appid_"), _identities.c.openid_hash == bindparam("openid_hash_"))
    .values(session_key_ciphertext=bindparam("session_key_"),
            unionid_hash=func.coalesce(bindparam("unionid_hash_", type_=String()), _identities.c.unionid_hash),
            updated_at=bindparam("now_"))
    .returning(_identities.c.user_id))
# PostgreSQL: both in one statement (a data-modifying WITH), locking the same rows in the same order.
_identity_touched = _SET_SESSION_KEY.cte("identity_touched")
_TOUCH_RETURNING_USER = (update(_users).where(_users.c.id == _identity_touched.c.user_id)
                         .values(last_login_at=bindparam("now_"), updated_at=bindparam("now_"))
                         .returning(*_USER_COLUMNS))
_INSERT_IDENTITY = insert(_identities).values(
    user_id=bindparam("user_id_"), appid=bindparam("appid_"), openid_hash=bindparam("openid_hash_"),
    openid_ciphertext=bindparam("openid_"), unionid_hash=bindparam("unionid_hash_"),
    session_key_ciphertext=bindparam("session_key_"), created_at=bindparam("now_"), updated_at=bindparam("now_"))

# Text, because SQLAlchemy does not cache the compiled form of its dialect-specific INSERT … ON CONFLICT
# (compiling costs more than running it). The count leaves out this user's own row, which the RETURNING
# subquery sees on SQLite but not on PostgreSQL (same statement): the caller adds one.
_UPSERT_DEVICE = (
    text("INSERT INTO devices (user_id, device_hash, model, os, app_version, first_seen_at, last_seen_at) "
         "VALUES (:user_id, :device_hash, :model, :os, :app_version, :now, :now) "
         "ON CONFLICT (user_id, device_hash) DO UPDATE SET model = excluded.model, os = excluded.os, "
         "app_version = excluded.app_version, last_seen_at = excluded.last_seen_at "
         "RETURNING id, (SELECT count(DISTINCT other.user_id) FROM devices AS other "
         "WHERE other.device_hash = :device_hash AND other.user_id <> :user_id)")
    .bindparams(bindparam("user_id", type_=Integer()), bindparam("device_hash", type_=String()),
                bindparam("model", type_=String()), bindparam("os", type_=String()),
                bindparam("app_version", type_=String()), bindparam("now", type_=UTCDateTime())))

_LIVE_OTHERS = (select(func.count()).select_from(_other_sessions)
                .where(_other_sessions.c.user_id == bindparam("user_id_"),
                       _other_sessions.c.revoked_at.is_(None), _other_sessions.c.expires_at > bindparam("now_"),
                       _other_sessions.c.token_hash != bindparam("token_hash_"))
                .scalar_subquery())
_SESSION_VALUES = {
    "public_id": bindparam("public_id_"), "user_id": bindparam("user_id_"), "token_hash": bindparam("token_hash_"),
    "method": bindparam("method_"), "device_id": bindparam("device_id_"), "created_at": bindparam("now_"),
    "last_seen_at": bindparam("now_"), "expires_at": bindparam("expires_at_")}
_INSERT_SESSION = insert(_sessions).values(_SESSION_VALUES).returning(_sessions.c.id, _LIVE_OTHERS)
_EVICT = (
    update(_sessions)
    .where(_sessions.c.id.in_(
        select(_other_sessions.c.id)
        .where(_other_sessions.c.user_id == bindparam("user_id_"), _other_sessions.c.revoked_at.is_(None),
               _other_sessions.c.expires_at > bindparam("now_", type_=UTCDateTime()))
        .order_by(_other_sessions.c.created_at.desc(), _other_sessions.c.id.desc())
        .offset(bindparam("keep_", type_=Integer()))))
    .values(revoked_at=bindparam("now_"), revoked_reason=bindparam("reason_")))
# PostgreSQL: the eviction and the insert in one statement. The eviction does not see the new row (same
# statement), so it keeps the newest MAX - 1 others; the statement runs after the user's row lock.
_evicted = _EVICT.returning(_sessions.c.id).cte("evicted")
_INSERT_SESSION_EVICTING = (insert(_sessions).values(_SESSION_VALUES)
                            .returning(_sessions.c.id, select(func.count()).select_from(_evicted).scalar_subquery()))


def touch_identity(connection: Connection, appid: str, openid_hash: str, session_key: bytes,
                   unionid_hash: str | None, now: datetime) -> Row | None:
    """Store the identity's new session key, then record the login on its user; the user's row (both rows
    locked), or None for an identity not seen before (nothing written)."""
    params = {"appid_": appid, "openid_hash_": openid_hash, "session_key_": session_key,
              "unionid_hash_": unionid_hash, "now_": now}
    if connection.dialect.name == "postgresql":
        return connection.execute(_TOUCH_RETURNING_USER, params).first()
    user_id = connection.execute(_SET_SESSION_KEY, params).scalar()
    if user_id is None:
        return None
    return connection.execute(_TOUCH_USER, {"user_id_": user_id, "now_": now}).first()


def user_for_new_identity(connection: Connection, unionid_hash: str | None, now: datetime) -> tuple[Row, bool]:
    """The account a new identity joins — the one of the same unionid (locked, last login recorded), else a new
    one — and whether it is new."""
    if unionid_hash is not None:
        user_id = connection.execute(_USER_OF_UNIONID, {"unionid_hash_": unionid_hash}).scalar()
        if user_id is not None:
            row = connection.execute(_TOUCH_USER, {"user_id_": user_id, "now_": now}).first()
            if row is not None:
                return row, False
    return connection.execute(_INSERT_USER, {"public_id_": new_public_id(), "now_": now}).one(), True


def insert_identity(connection: Connection, user_id: int, appid: str, openid_hash: str, openid: bytes,
                    unionid_hash: str | None, session_key: bytes, now: datetime) -> None:
    """Raises ``IntegrityError`` when a concurrent first login of the same openid inserted it first."""
    connection.execute(_INSERT_IDENTITY, {"user_id_": user_id, "appid_": appid, "openid_hash_": openid_hash,
                                          "openid_": openid, "unionid_hash_": unionid_hash, "session_key_": session_key,
                                          "now_": now})


def upsert_device(connection: Connection, user_id: int, hashed: str, model: str | None, os: str | None,
                  app_version: str | None, now: datetime) -> tuple[int, int]:
    """Record (or refresh) the user's device: its id, and how many accounts have it (this one included)."""
    device_id, others = connection.execute(_UPSERT_DEVICE, {
        "user_id": user_id, "device_hash": hashed, "model": model, "os": os, "app_version": app_version,
        "now": now}).one()
    return device_id, (others or 0) + 1


def insert_session(connection: Connection, values: dict[str, Any], cap: int, reason: str) -> tuple[int, int]:
    """Insert a login session (``values``: public_id, user_id, token_hash, method, device_id, created_at,
    expires_at) and revoke the user's oldest live ones beyond ``cap``: its id, and how many were revoked."""
    params = {"public_id_": values["public_id"], "user_id_": values["user_id"], "token_hash_": values["token_hash"],
              "method_": values["method"], "device_id_": values["device_id"], "now_": values["created_at"],
              "expires_at_": values["expires_at"]}
    if connection.dialect.name == "postgresql":
        session_id, evicted = connection.execute(_INSERT_SESSION_EVICTING,
                                                 {**params, "keep_": cap - 1, "reason_": reason}).one()
        return session_id, evicted
    session_id, others = connection.execute(_INSERT_SESSION, params).one()
    if others + 1 <= cap:
        return session_id, 0
    evicted = connection.execute(_EVICT, {"user_id_": values["user_id"], "now_": values["created_at"], "keep_": cap,
                                          "reason_": reason}).rowcount
    return session_id, evicted


def user_from_row(row: Row) -> User:
    """A ``User`` holding the row's values, for the answer only: not attached to the ORM session (nothing
    flushes it, nothing reloads it)."""
    user = _USER_MANAGER.new_instance()
    user.__dict__.update(row._mapping)
    return user


def session_from_values(session_id: int, values: dict[str, Any]) -> LoginSession:
    """The ``LoginSession`` just inserted, for the answer only (like ``user_from_row``)."""
    session = _SESSION_MANAGER.new_instance()
    session.__dict__.update(values, id=session_id, last_seen_at=values["created_at"], revoked_at=None,
                            revoked_reason=None)
    return session

