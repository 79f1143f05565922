"""The consent guard's answer cached in Redis, so a request that changes nothing (a job poll) asks no database.

``check_policy_accepted`` runs before almost every API request: a poll of a job every few seconds
from every waiting phone. Its answer (the user's accepted ``service`` version against the versions
in effect) changes only when the user's consent records change, when policy versions change, or
when a scheduled version takes effect. So an *accepted* standing is kept in Redis
(``consent:standing:<user>``) with the values of two epochs read before the query
(``consent:epoch`` for everyone, ``consent:epoch:<user>``) and the moment it stops being true on its
own (the next version's ``effective_at``, at most ``CONSENT_STANDING_CACHE_TTL_S`` ahead). It is
used only while both epochs hold those values and that moment has not come.

Every committed change of a consent record through the ORM (given, withdrawn, account deleted)
renews the user's epoch after the commit; a change of a policy version, an UPDATE/DELETE of these
tables naming no single user, and raw SQL writing them renew the global one. Refusals are never
cached (consent missing, withdrawn, update required: the database answers each time). The MGET of the
entry and its epochs rides in the request's auth round trip (``RIDER``, ``app/accounts/riders.py``). Redis down:
the database answers, as before. The same pattern as the auth cache (``app/accounts/sessions.py``).
"""

from __future__ import annotations

import logging
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app, has_app_context
from redis.exceptions import RedisError
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.sql.elements import TextClause

from app.accounts import riders
from app.core.db import utcnow
from app.core.jobs import redis_connection

from .models import ConsentRecord, PolicyVersion

log = logging.getLogger(__name__)

STANDING_KEY = "consent:standing:{user}"
GLOBAL_EPOCH_KEY = "consent:epoch"
USER_EPOCH_KEY = "consent:epoch:{user}"


def _ttl() -> float:
    return float(current_app.config["CONSENT_STANDING_CACHE_TTL_S"])


def _keys(user_id: int) -> list[str]:
    return [GLOBAL_EPOCH_KEY, USER_EPOCH_KEY.format(user=user_id), STANDING_KEY.format(user=user_id)]


RIDER = "consent.standing"  # the guard's read, sent with the request's auth epochs (app/accounts/riders.py)


def ride(user_id: int) -> list[str] | None:
    """The MGET ``cached`` will want in this request (the guard registers it as a rider), or None."""
    if _MISSED_BUMP or _ttl() <= 0:
        return None
    return ["MGET", *_keys(user_id)]


def cached(user_id: int) -> tuple[int, int | None, int] | None:
    """(accepted, current, latest major) sequences from Redis, or None (not cached, changed, expired, down)."""
    if _ttl() <= 0:
        return None
    values = riders.ridden(RIDER, user_id) if not _MISSED_BUMP else None  # read with the auth epochs
    if values is None:
        try:
            conn = redis_connection()
            if _MISSED_BUMP:  # this process committed a change Redis did not hear of: renew everyone's epoch first
                conn.set(GLOBAL_EPOCH_KEY, secrets.token_hex(8))
                _MISSED_BUMP.clear()
            values = conn.mget(_keys(user_id))
        except RedisError:
            return None
    g, u, entry = values
    if not (g and u and entry):
        return None
    entry_g, entry_u, accepted, current, major, until = entry.decode().split("|")
    if entry_g != g.decode() or entry_u != u.decode() or utcnow().timestamp() >= float(until):
        return None
    return int(accepted), (int(current) if current else None), int(major)


def epochs(user_id: int) -> tuple[str, str] | None:
    """Read (creating if missing) the two epochs *before* the query whose answer will be cached."""
    if _ttl() <= 0:
        return None
    keys = [GLOBAL_EPOCH_KEY, USER_EPOCH_KEY.format(user=user_id)]
    try:
        pipe = redis_connection().pipeline(transaction=False)
        for key in keys:
            pipe.set(key, secrets.token_hex(8), nx=True)
        pipe.mget(keys)
        values = pipe.execute()[-1]
    except RedisError:
        return None
    return (values[0].decode(), values[1].decode()) if all(values) else None


def remember(user_id: int, read_epochs: tuple[str, str] | None, sequences: tuple[int, int | None, int],
             now: datetime, next_effective: datetime | None) -> None:
    """Keep an accepted standing until the next scheduled version takes effect, at most the TTL."""
    if read_epochs is None:
        return
    until = now + timedelta(seconds=_ttl())
    if next_effective is not None:
        until = min(until, next_effective if next_effective.tzinfo else next_effective.replace(tzinfo=UTC))
    accepted, current, major = sequences
    value = "|".join([*read_epochs, str(accepted), "" if current is None else str(current), str(major),
                      f"{until.timestamp():.3f}"])
    try:
        redis_connection().set(STANDING_KEY.format(user=user_id), value, ex=max(1, int(_ttl())))
    except RedisError:
        log.warning("consent standing not cached: Redis is not answering")


# --- renewing epochs when consents and policy versions change ------------------------------------

_PENDING = "miaohua_consent_epoch_pending"
_TABLES = frozenset({ConsentRecord.__tablename__, PolicyVersion.__tablename__})
_WRITE_SQL = re.compile(r"\b(update|delete|insert|truncate|drop|alter|replace)\b", re.IGNORECASE)
_TABLE_SQL = re.compile(r"\b(consent_records|policy_versions)\b", re.IGNORECASE)
_MISSED_BUMP: set[bool] = set()


def _pending(session: Session) -> dict[str, Any]:
    return session.info.setdefault(_PENDING, {"users": set(), "everyone": False})


@event.listens_for(Session, "after_flush")
def _track_flush(session: Session, _flush_context: Any) -> None:
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, ConsentRecord):
            user_id = obj.__dict__.get("user_id")
            pending = _pending(session)
            if user_id is None:
                pending["everyone"] = True
            else:
                pending["users"].add(user_id)
        elif isinstance(obj, PolicyVersion):
            _pending(session)["everyone"] = True


@event.listens_for(Session, "do_orm_execute")
def _track_statement(state: ORMExecuteState) -> None:
    statement = state.statement
    if isinstance(statement, TextClause):
        if _WRITE_SQL.search(statement.text) and _TABLE_SQL.search(statement.text):
            _pending(state.session)["everyone"] = True
    elif (state.is_update or state.is_delete or state.is_insert) and \
            getattr(statement.table, "name", None) in _TABLES:
        _pending(state.session)["everyone"] = True


@event.listens_for(Session, "after_commit")
def _bump_after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending or not (pending["users"] or pending["everyone"]) or not has_app_context():
        return
    keys = [USER_EPOCH_KEY.format(user=user_id) for user_id in sorted(pending["users"])]
    if pending["everyone"] or _MISSED_BUMP:
        keys.append(GLOBAL_EPOCH_KEY)
    try:
        pipe = redis_connection().pipeline(transaction=False)
        for key in keys:
            pipe.set(key, secrets.token_hex(8))
        pipe.execute()
        _MISSED_BUMP.clear()
    except RedisError:
        _MISSED_BUMP.add(True)  # renew everyone's epoch at the next commit that reaches Redis
        log.warning("consent epochs not renewed: Redis is not answering")


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, previous_transaction: Any) -> None:
    if not previous_transaction.nested:
        session.info.pop(_PENDING, None)
