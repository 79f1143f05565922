"""Login sessions: random bearer tokens stored hashed, expiring, capped per user, revocable.

Authenticating a request (``authenticate``) is the hottest path of the API, so it is cheap: one
prebuilt Core SELECT of the session's and the user's columns, or — for a token this process checked
less than ``AUTH_CACHE_TTL_S`` seconds ago — one Redis MGET of two *auth epochs*:

- ``auth:epoch`` (everyone) and ``auth:epoch:user:<id>`` hold random values. Every committed change
  of a user or a login session made through the ORM (revoke, logout, revoke all, the eviction at the
  sixth login, block and unblock, profile changes, merges, deletions) gives the user's epoch a new
  value *after* its commit; a bulk UPDATE/DELETE of those tables that names no single user (or raw
  SQL through the ORM session) renews the global one. See ``_track_flush``, ``_track_bulk_statement``
  and ``_bump_after_commit`` at the end of this module.
- Each process keeps, in memory and keyed by the token's SHA-256 (never the token), what the
  database said about a live session of an active user, with the epoch values it read *before* that
  query (a query under READ COMMITTED, the default, sees every commit made before it started). An
  entry is used only while both epochs still hold those values, it is younger than the TTL, and the
  session has not expired. So a revocation committed anywhere is refused by every process on its
  next request. Unknown, revoked and expired tokens and blocked users always go to the database.
- That MGET is the request's only round trip to Redis: guards and views that read Redis later in the
  same request (the consent standing, the job poll's cached answer) send their commands with it and
  take their replies back (``app/accounts/riders.py``); the commands are packed by
  ``app/core/redis_wire.py`` and the replies read by redis-py's parser (hiredis).
- Redis unreachable or an epoch missing (evicted, flushed, a restarted Redis): the database decides,
  as if there were no cache. A bump that fails clears this process's cache and becomes a global bump
  as soon as Redis answers again; the TTL bounds what other processes can miss meanwhile, and what
  writes that bypass this code (raw SQL from psql) can: after those, call ``bump_auth_epoch()``.

Settings (app config, defaults in brackets): ``AUTH_CACHE_TTL_S`` [10; 0 turns the cache off],
``AUTH_CACHE_MAX_ENTRIES`` [10000 per process], ``AUTH_CACHE_REDIS_TIMEOUT_S`` [0.25],
``AUTH_CACHE_REDIS_RETRY_S`` [2: after a Redis failure, database only for that long]. With the cache,
``last_seen_at`` is written at most once per ``SESSION_TOUCH_INTERVAL_S`` per process.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy
from flask import Flask, current_app, has_app_context
from redis import Redis
from redis.exceptions import ResponseError
from sqlalchemy import bindparam, event, select, update
from sqlalchemy.orm import ORMExecuteState, Session, joinedload, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.orm.instrumentation import manager_of_class
from sqlalchemy.sql.elements import TextClause

from app.accounts import riders
from app.accounts.models import Device, LoginSession, User, UserStatus
from app.core import redis_wire
from app.core.crypto import token_hash
from app.core.db import utcnow
from app.core.jobs import connect_redis
from app.core.pagination import PageQuery, paginate
from app.extensions import db

log = logging.getLogger(__name__)

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


def active_sessions_page(user_id: int, page: PageQuery) -> tuple[list[LoginSession], str | None]:
    """Newest first, one page (see ``app.core.pagination``)."""
    return paginate(select(LoginSession).where(LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None),
                                               LoginSession.expires_at > utcnow()),
                    page, LoginSession.created_at.desc(), LoginSession.id.desc())


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
        update(LoginSession).where(*conditions).values(revoked_at=utcnow(), revoked_reason=reason),
        execution_options={EPOCH_OPTION: user_id},  # renews this user's epoch, not everyone's
    )
    return result.rowcount or 0


# Kept for callers that want the ORM objects; requests go through ``authenticate`` (below).
_SESSION_BY_TOKEN = (
    select(LoginSession).options(joinedload(LoginSession.user))
    .where(LoginSession.token_hash == bindparam("token_hash"))
)


def resolve_token(token: str) -> LoginSession | None:
    """The live session behind a bearer token, or None (unknown, expired, revoked). Never cached."""
    if not _plausible(token):
        return None
    session = db.session.scalar(_SESSION_BY_TOKEN, {"token_hash": token_hash(token)})
    if session is None or session.revoked_at is not None or session.expires_at <= utcnow():
        return None
    return session


def touch(session: LoginSession | SessionSnapshot) -> None:
    """Record activity at most once per SESSION_TOUCH_INTERVAL_S (not a write on every request)."""
    now = utcnow()
    if now - session.last_seen_at >= timedelta(seconds=current_app.config["SESSION_TOUCH_INTERVAL_S"]):
        _write_last_seen(session.id, now)


def _write_last_seen(session_id: int, now: datetime) -> None:
    db.session.execute(update(LoginSession).where(LoginSession.id == session_id).values(last_seen_at=now),
                       execution_options={EPOCH_OPTION: EPOCH_UNCHANGED})  # activity, not a change of rights
    db.session.commit()


def _plausible(token: str) -> bool:
    return token.startswith(TOKEN_PREFIX) and len(token) <= 128


# --- authenticating a request -------------------------------------------------------------------

_SESSIONS = LoginSession.__table__
_USERS = User.__table__
# Every user column but these two (loaded on access if some code ever needs them on current_user).
_UNCACHED_USER_COLUMNS = frozenset({"phone_ciphertext", "blocked_reason"})
_USER_COLUMNS = tuple(c for c in _USERS.c if c.key not in _UNCACHED_USER_COLUMNS)
_USER_KEYS = tuple(c.key for c in _USER_COLUMNS)
_USER_STATUS_INDEX = _USER_KEYS.index("status")
# Built once (no per-request statement building or cache-key generation), Core only (no ORM loading).
_BY_TOKEN_HASH = (
    select(_SESSIONS.c.id, _SESSIONS.c.user_id, _SESSIONS.c.expires_at, _SESSIONS.c.last_seen_at,
           _SESSIONS.c.revoked_at, *_USER_COLUMNS)
    .select_from(_SESSIONS.join(_USERS, _USERS.c.id == _SESSIONS.c.user_id))
    .where(_SESSIONS.c.token_hash == bindparam("token_hash"))
)
_USER_MANAGER = manager_of_class(User)


@dataclass(frozen=True, slots=True)
class SessionSnapshot:
    """A live (not revoked, not expired) login session and its user's columns, as last checked."""

    id: int
    user_id: int
    expires_at: datetime
    last_seen_at: datetime
    user_values: tuple[Any, ...]

    @property
    def user_blocked(self) -> bool:
        return self.user_values[_USER_STATUS_INDEX] == UserStatus.BLOCKED


def authenticate(token: str) -> SessionSnapshot | None:
    """The live session behind a bearer token (its user possibly blocked), or None.

    Records activity (``touch``) for sessions of active users.
    """
    if not _plausible(token):
        return None
    key = token_hash(token)
    cache = auth_cache()
    if cache is not None and cache.lost_bump:
        cache.bump((), everyone=True)  # replay a bump lost to a Redis outage, before trusting anything
    entry = cache.entries.get(key) if cache is not None else None
    epochs = None
    if entry is not None:  # this process has seen this token: which user it belongs to never changes
        snapshot = entry.snapshot
        epochs = cache.current_epochs(snapshot.user_id)
        if epochs is not None and epochs == entry.epochs and time.monotonic() < entry.fresh_until:
            if snapshot.expires_at <= utcnow():
                cache.forget(key)
                return None
            return _touched(snapshot, key, cache)
        if epochs is None:
            epochs = cache.ensure_epochs(snapshot.user_id)
    # The epochs were read before this query: a revocation committed after it renews them.
    snapshot = _load_snapshot(key)
    if cache is not None:
        if snapshot is None or snapshot.user_blocked:
            cache.forget(key)
        else:
            cache.remember(key, snapshot, epochs)
    if snapshot is None or snapshot.user_blocked:
        return snapshot
    return _touched(snapshot, key, cache)


def _load_snapshot(key: str) -> SessionSnapshot | None:
    row = db.session.execute(_BY_TOKEN_HASH, {"token_hash": key}).first()
    if row is None:
        return None
    session_id, user_id, expires_at, last_seen_at, revoked_at = row[:5]
    if revoked_at is not None or expires_at <= utcnow():
        return None
    return SessionSnapshot(session_id, user_id, expires_at, last_seen_at, tuple(row[5:]))


def _touched(snapshot: SessionSnapshot, key: str, cache: AuthCache | None) -> SessionSnapshot:
    now = utcnow()
    if now - snapshot.last_seen_at < timedelta(seconds=current_app.config["SESSION_TOUCH_INTERVAL_S"]):
        return snapshot
    _write_last_seen(snapshot.id, now)
    snapshot = replace(snapshot, last_seen_at=now)
    if cache is not None:
        cache.update_snapshot(key, snapshot)
    return snapshot


def user_of(snapshot: SessionSnapshot) -> User:
    """The snapshot's user as a real, persistent ``User`` in the request's ORM session, without a query.

    It behaves as if loaded: relationships (``wechat_identities``) and the uncached columns load on
    first access, changes flush and commit as usual (and renew the epoch), a rollback expires it.
    """
    session = db.session()
    key = (User, (snapshot.user_id,), None)
    existing = session.identity_map.get(key)
    if existing is not None:  # already loaded in this session: the ORM would return that one too
        return existing
    user = _USER_MANAGER.new_instance()
    user.__dict__.update(zip(_USER_KEYS, snapshot.user_values, strict=True))  # no history: as loaded
    if _FAST_ATTACH:
        _attach_as_loaded(session, user, key)
    else:
        make_transient_to_detached(user)  # the uncached columns are expired: they load on access
        session.add(user)
    return user


# What ``make_transient_to_detached`` + ``Session.add`` amount to for an instance that has no history,
# minus the transaction that ``add`` begins (the first query or commit begins it, as usual) and the
# attach events nobody here listens to: about 160k fewer instructions per request (some 14 % of /me).
# It sets SQLAlchemy internals, so it is limited to the 2.0 series it was written and tested against
# (tests/accounts/test_auth_cache.py); any other version takes the public path above.
_FAST_ATTACH = sqlalchemy.__version__.startswith("2.0.")


def _attach_as_loaded(session: Session, user: User, key: tuple) -> None:
    state = instance_state(user)
    state.key = key
    state.expired_attributes.update(_UNCACHED_USER_COLUMNS)
    session.identity_map.add(state)
    state.session_id = session.hash_key


# --- the per-process cache and the auth epochs in Redis ------------------------------------------

EXTENSION = "miaohua_auth_cache"
GLOBAL_EPOCH_KEY = "auth:epoch"
USER_EPOCH_KEY = "auth:epoch:user:{}"
EPOCH_OPTION = "miaohua_auth_epoch"  # execution option: a user id, or EPOCH_UNCHANGED
EPOCH_UNCHANGED = "unchanged"


_MGET_GLOBAL = b"*3\r\n$4\r\nMGET\r\n$%d\r\n%s\r\n" % (len(GLOBAL_EPOCH_KEY), GLOBAL_EPOCH_KEY.encode())


def _new_epoch() -> str:
    return secrets.token_hex(8)


@dataclass(frozen=True, slots=True)
class _Entry:
    snapshot: SessionSnapshot
    epochs: list[bytes] | None  # [global, user] as read before the query; None: never valid
    fresh_until: float  # time.monotonic()


class AuthCache:
    """Per app and process: token hash → snapshot, valid while the auth epochs are unchanged."""

    def __init__(self, redis_url: str, *, ttl_s: float, max_entries: int, redis_timeout_s: float,
                 retry_after_s: float) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max(1, max_entries)
        self.retry_after_s = retry_after_s
        self.user_epoch_ttl_s = int(max(86400, 10 * ttl_s))  # far longer than any entry lives
        self.entries: dict[str, _Entry] = {}
        self._redis_url, self._redis_timeout_s = redis_url, redis_timeout_s
        self._client: Redis | None = None
        self._local = threading.local()  # one connection per thread for the per-request MGET
        self._down_until = 0.0  # after a Redis failure, skip Redis (database only) until then
        self.lost_bump = False  # a bump failed: renew the global epoch when Redis answers again
        self._failing = False  # in an outage (logged once when it starts, once when it ends)

    @classmethod
    def from_config(cls, app: Flask) -> AuthCache:
        config = app.config
        return cls(config["REDIS_URL_EFFECTIVE"], ttl_s=float(config.get("AUTH_CACHE_TTL_S", 10)),
                   max_entries=int(config.get("AUTH_CACHE_MAX_ENTRIES", 10_000)),
                   redis_timeout_s=float(config.get("AUTH_CACHE_REDIS_TIMEOUT_S", 0.25)),
                   retry_after_s=float(config.get("AUTH_CACHE_REDIS_RETRY_S", 2)))

    @property
    def enabled(self) -> bool:
        return self.ttl_s > 0

    @property
    def client(self) -> Redis:
        if self._client is None:
            self._client = connect_redis(self._redis_url, self._redis_timeout_s)
        return self._client

    # entries

    def remember(self, key: str, snapshot: SessionSnapshot, epochs: list[bytes] | None) -> None:
        if not self.enabled:
            return
        entries, now = self.entries, time.monotonic()
        entries.pop(key, None)  # re-inserted at the end: entries stay in order of freshness
        try:  # drop stale entries (nothing is kept much past its TTL) and the oldest beyond the cap
            while entries:
                oldest = next(iter(entries))
                if entries[oldest].fresh_until > now and len(entries) < self.max_entries:
                    break
                del entries[oldest]
        except (KeyError, RuntimeError):  # another thread changed the dict meanwhile
            entries.clear()
        entries[key] = _Entry(snapshot, epochs, now + self.ttl_s)

    def update_snapshot(self, key: str, snapshot: SessionSnapshot) -> None:
        entry = self.entries.get(key)
        if entry is not None and entry.snapshot.id == snapshot.id:
            self.entries[key] = replace(entry, snapshot=snapshot)

    def forget(self, key: str) -> None:
        self.entries.pop(key, None)

    # epochs

    def current_epochs(self, user_id: int) -> list[bytes] | None:
        """[global, user] epoch values, or None (Redis unavailable, or one of them missing)."""
        if time.monotonic() < self._down_until or self.lost_bump:
            return None
        local = self._local
        conn = getattr(local, "conn", None)
        if conn is None or local.pid != os.getpid():
            # Outside the shared pool: a thread that ends (threaded dev server) drops its connection
            # with it, instead of leaking one of the pool's slots per request thread.
            pool = self.client.connection_pool
            conn = local.conn = pool.connection_class(**pool.connection_kwargs)
            local.pid = os.getpid()
        user_key = USER_EPOCH_KEY.format(user_id).encode()
        riding = riders.commands(user_id)  # later guards' reads of this request, in the same round trip
        try:  # MGET global user, packed by hand (redis-py's client adds ~50 us of CPU per call)
            # One buffer, one write: given a list, redis-py calls sendall once per item (a system call and a
            # TCP segment each): a poll, whose two riders ride along, made three writes of one request.
            conn.send_packed_command([b"".join((_MGET_GLOBAL, b"$%d\r\n%s\r\n" % (len(user_key), user_key),
                                                *(packed for _name, packed in riding)))])
            values, *ridden = redis_wire.read_replies(conn, 1 + len(riding))
            if isinstance(values, ResponseError):
                raise values
            replies = {name: reply for (name, _packed), reply in zip(riding, ridden, strict=True)}
        except Exception as exc:  # any connection, timeout or protocol error: the database decides
            local.conn = None
            conn.disconnect()
            self._failed("read", exc)
            return None
        if riding:
            riders.keep(user_id, replies)
        if self._failing:
            self._recovered()
        if not isinstance(values, list) or len(values) != 2 or values[0] is None or values[1] is None:
            return None
        return values

    def ensure_epochs(self, user_id: int) -> list[bytes] | None:
        """Like ``current_epochs``, giving missing epochs a value first (one round trip)."""
        if time.monotonic() < self._down_until:
            return None
        user_key = USER_EPOCH_KEY.format(user_id)
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.set(GLOBAL_EPOCH_KEY, _new_epoch(), nx=True)
            pipe.set(user_key, _new_epoch(), nx=True, ex=self.user_epoch_ttl_s)
            pipe.mget(GLOBAL_EPOCH_KEY, user_key)
            values = pipe.execute()[-1]
        except Exception as exc:
            self._failed("read", exc)
            return None
        if self._failing:
            self._recovered()
        return values if None not in values else None

    def bump(self, user_ids: Iterable[int], *, everyone: bool = False) -> bool:
        """Give these users' epochs (and the global one) new values; False when Redis failed."""
        if time.monotonic() < self._down_until:
            self.lost_bump = True
            self.entries.clear()
            return False
        try:
            pipe = self.client.pipeline(transaction=False)
            if everyone or self.lost_bump:
                pipe.set(GLOBAL_EPOCH_KEY, _new_epoch())
            for user_id in user_ids:
                pipe.set(USER_EPOCH_KEY.format(user_id), _new_epoch(), ex=self.user_epoch_ttl_s)
            pipe.execute()
        except Exception as exc:
            self.lost_bump = True
            self.entries.clear()
            self._failed("bump", exc)
            return False
        if self.lost_bump:
            log.info("auth epochs: the bump lost to the outage was replayed as a global one")
        self.lost_bump = False
        if self._failing:
            self._recovered()
        return True

    def _failed(self, what: str, exc: Exception) -> None:
        self._down_until = time.monotonic() + self.retry_after_s
        self.entries.clear()
        if not self._failing:  # once per outage, not every retry
            self._failing = True
            log.warning("auth epoch %s failed: Redis unavailable, every request asks the database", what,
                        extra={"error": type(exc).__name__})

    def _recovered(self) -> None:
        self._failing = False
        log.info("auth epochs: Redis answers again")


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = AuthCache.from_config(app)


def auth_cache() -> AuthCache | None:
    """This app's cache, or None when it is off (AUTH_CACHE_TTL_S=0)."""
    cache = current_app.extensions.get(EXTENSION)
    return cache if cache is not None and cache.enabled else None


def bump_auth_epoch(user_id: int | None = None) -> bool:
    """Invalidate cached authentications of one user (or everyone) in every process, at once.

    For changes made outside this code (raw SQL); ORM commits do it by themselves.
    """
    cache = current_app.extensions[EXTENSION]
    cache.entries.clear()
    return cache.bump(() if user_id is None else (user_id,), everyone=user_id is None)


# --- renewing epochs when users and sessions change ------------------------------------------------

_PENDING = "miaohua_auth_epoch_pending"  # session.info: {"users": set of ids, "everyone": bool}
_AUTH_TABLES = frozenset({_USERS.name, _SESSIONS.name})
_WRITE_SQL = re.compile(r"\b(update|delete|truncate|drop|alter|replace)\b", re.IGNORECASE)
_AUTH_TABLE_SQL = re.compile(r"\b(users|login_sessions)\b", re.IGNORECASE)


def _pending(session: Session) -> dict[str, Any]:
    return session.info.setdefault(_PENDING, {"users": set(), "everyone": False})


@event.listens_for(Session, "after_flush")
def _track_flush(session: Session, _flush_context: Any) -> None:
    """Changed or deleted users and login sessions (new ones change no one's rights)."""
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, User):
            identity = instance_state(obj).key  # (User, (id,), token) even when its attributes expired
            user_id = identity[1][0] if identity else None
        elif isinstance(obj, LoginSession):
            user_id = obj.__dict__.get("user_id")
        else:
            continue
        pending = _pending(session)
        if user_id is None:
            pending["everyone"] = True
        else:
            pending["users"].add(user_id)


@event.listens_for(Session, "do_orm_execute")
def _track_bulk_statement(state: ORMExecuteState) -> None:
    """UPDATE/DELETE statements on users or login_sessions, and raw SQL that may write them."""
    statement = state.statement
    if isinstance(statement, TextClause):
        if not (_WRITE_SQL.search(statement.text) and _AUTH_TABLE_SQL.search(statement.text)):
            return
        option = None
    elif state.is_update or state.is_delete:
        if getattr(statement.table, "name", None) not in _AUTH_TABLES:
            return
        option = state.execution_options.get(EPOCH_OPTION)
        if option == EPOCH_UNCHANGED:
            return
    else:
        return
    pending = _pending(state.session)
    if isinstance(option, int) and not isinstance(option, bool):
        pending["users"].add(option)
    else:
        pending["everyone"] = True


def renew_epoch_after_commit(user_id: int) -> None:
    """Renew the user's auth epoch after the request's commit, for a change of its sessions or rights made
    by a Core statement on the session's connection (which the ORM events above do not see)."""
    _pending(db.session())["users"].add(user_id)


@event.listens_for(Session, "after_commit")
def _bump_after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending or not (pending["users"] or pending["everyone"]):
        return
    cache = current_app.extensions.get(EXTENSION) if has_app_context() else None
    if cache is None:
        log.warning("users or sessions changed outside an app: auth caches only notice after AUTH_CACHE_TTL_S")
        return
    cache.bump(sorted(pending["users"]), everyone=pending["everyone"])


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, previous_transaction: Any) -> None:
    if not previous_transaction.nested:  # a rolled-back savepoint: the outer transaction may commit
        session.info.pop(_PENDING, None)
