"""The job poll (``GET /jobs/{id}``): no PostgreSQL when nothing changed, an ETag, and when to ask again.

**Cached answer.** The first poll of a job reads its row and stores the answer, minus the queue
place and the wait, in Redis (``generation:view:<user>:<job>``, ``GENERATION_POLL_CACHE_TTL_S``)
together with the values of two *view epochs* read before the query: ``generation:view-epoch``
(everyone) and ``generation:view-epoch:<user>``. Later polls run one Lua script: the entry is used
only while both epochs still hold those values, and the script adds the live place from the queue's
sequence numbers (``positions.py``), the worker count and the style kind's average duration; for a
poll it is sent by its SHA in the request's auth round trip (``RIDER``, ``app/accounts/riders.py``), so
that a cached poll costs one round trip to Redis in all. The
key holds the user id: another user's poll of the same job id never finds it (it goes to the
database and gets 404).

**Invalidation.** Every committed change of a job or of its results made through the ORM (created,
dispatched, started, progress, finished, cancelled, consent withdrawn, results deleted, job or user
deleted) gives that user's epoch a new random value *after* the commit (``_track_flush``,
``_track_statement``); an UPDATE/DELETE on those tables that names no single user, or raw SQL
that writes them, renews the global epoch. The runner's progress UPDATE names its user
(``EPOCH_OPTION``). Position changes need no invalidation: the place is computed on every poll.
A job still waiting for its user's turn in the fair queue is never cached (its place comes from the
rows, ``queue._place_waiting``). Redis unreachable: the database answers, as before.

**ETag.** The answer's ETag is a hash of its body, so any change (progress, place, wait, status,
results) gives a new one; ``If-None-Match`` with the current one is answered ``304`` without a body.

**When to ask again** (``next_poll_after_s`` and ``Retry-After``), docs/api-conventions.md: queued
with an estimate: a tenth of the estimated wait, at least 2 s and at most 60 s; queued without one:
5 s; running: 2 s; ended: null (nothing more to wait for; the subscribe message also says so).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
from typing import Any

from flask import Response, current_app, has_app_context, request
from redis.exceptions import RedisError
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.sql.elements import TextClause

from app.accounts import riders
from app.core import redis_wire
from app.core.i18n import locale_name
from app.core.jobs import redis_connection

from . import positions
from .models import GenerationJob, GenerationResult, JobStatus, rq_job_id_for
from .services import DURATION_KEY

log = logging.getLogger(__name__)

# The answer holds texts in the reader's language (status_text, style_name, error_message): one per locale.
VIEW_KEY = "generation:view:{user}:{job}:{locale}"
USERS_TABLE = "users"  # accounts' table: its rows' deletion drops the user's cached answers (by name, not model)
GLOBAL_EPOCH_KEY = "generation:view-epoch"
USER_EPOCH_KEY = "generation:view-epoch:{user}"
EPOCH_OPTION = "miaohua_generation_view_epoch"  # execution option on an UPDATE/DELETE: the user id it touches
KINDS = ("photo", "id_photo", "avatar", "video")

RESPONSE_HEADERS = {
    "ETag": "A hash of the answer: send it back as If-None-Match",
    "Retry-After": "Seconds before asking again (= next_poll_after_s; absent once the job ended)",
    "Cache-Control": "private, no-cache",
}
_MISSED_BUMP: set[bool] = set()  # non-empty: an epoch bump failed in this process
POLL_MIN_S, POLL_MAX_S, POLL_UNKNOWN_S, POLL_RUNNING_S = 2, 60, 5, 2


def next_poll_after(status: str, wait_s: int | None) -> int | None:
    """Seconds before the client should ask again (module docstring); None once the job ended."""
    if status == JobStatus.RUNNING:
        return POLL_RUNNING_S
    if status != JobStatus.QUEUED:
        return None
    if wait_s is None:
        return POLL_UNKNOWN_S
    return min(POLL_MAX_S, max(POLL_MIN_S, wait_s // 10))


# KEYS: global epoch, user epoch, view, positions' 4 keys, the workers set, the 4 duration keys. ARGV: RQ job id.
# Returns {} when the entry is missing or stale, else {body, place (0: not in RQ), workers, durations…}.
_READ = """
local entry = redis.call('HMGET', KEYS[3], 'g', 'u', 'body', 'queued')
if not entry[3] then return {} end
if redis.call('GET', KEYS[1]) ~= entry[1] or redis.call('GET', KEYS[2]) ~= entry[2] then return {} end
local out = {entry[3], 0, 0}
if entry[4] == '1' then
  local seq = tonumber(redis.call('HGET', KEYS[5], ARGV[1]) or '0')
  if seq > 0 then
    local head = tonumber(redis.call('GET', KEYS[6]) or '1')
    out[2] = seq - head + 1 - redis.call('ZCOUNT', KEYS[7], '-inf', '(' .. seq)
  end
  out[3] = redis.call('SCARD', KEYS[8])
  for i = 9, 12 do out[#out + 1] = redis.call('GET', KEYS[i]) or false end
end
return out
"""


def _ttl() -> int:
    return int(current_app.config["GENERATION_POLL_CACHE_TTL_S"])


# The keys every poll reads besides its entry and epochs: the queue's positions, the workers, the durations.
_SHARED_KEYS = (positions.SEQ_KEY, positions.OF_KEY, positions.HEAD_KEY, positions.GONE_KEY, positions.WORKERS_KEY,
                *(DURATION_KEY.format(kind=kind) for kind in KINDS))


def _read_keys(user_id: int, public_id: str) -> list[str]:
    return [GLOBAL_EPOCH_KEY, USER_EPOCH_KEY.format(user=user_id),
            VIEW_KEY.format(user=user_id, job=public_id, locale=locale_name()), *_SHARED_KEYS]


_READ_SHA = hashlib.sha1(_READ.encode()).hexdigest()  # noqa: S324 - Redis names scripts by their SHA-1
RIDER = "generation.poll"  # the poll's read, sent with the request's auth epochs (app/accounts/riders.py)
POLL_ENDPOINT = "generation.get_job"
# EVALSHA sha 12 KEYS… ARGV: packed once but for the user's epoch, the entry and the RQ job id.
_RIDE_HEAD = (b"*%d\r\n" % (3 + 12 + 1) + redis_wire.bulk("EVALSHA") + redis_wire.bulk(_READ_SHA)
              + redis_wire.bulk(12) + redis_wire.bulk(GLOBAL_EPOCH_KEY))
_RIDE_SHARED = b"".join(redis_wire.bulk(key) for key in _SHARED_KEYS)


def _ride(user_id: int) -> bytes | None:
    """For a poll: the script ``cached`` runs, by its SHA (NOSCRIPT the first time: ``cached`` then EVALs it)."""
    if request.endpoint != POLL_ENDPOINT or _MISSED_BUMP or _ttl() <= 0:
        return None
    public_id = (request.view_args or {}).get("job_id")
    if not isinstance(public_id, str):
        return None
    return b"".join((_RIDE_HEAD, redis_wire.bulk(USER_EPOCH_KEY.format(user=user_id)),
                     redis_wire.bulk(VIEW_KEY.format(user=user_id, job=public_id, locale=locale_name())),
                     _RIDE_SHARED, redis_wire.bulk(rq_job_id_for(public_id))))


riders.ride_along(RIDER, _ride)


def cached(user_id: int, public_id: str) -> dict[str, Any] | None:
    """The job's answer from Redis with a live place, or None (not cached, changed since, Redis down)."""
    if _ttl() <= 0:
        return None
    out = riders.ridden(RIDER, user_id) if not _MISSED_BUMP else None  # read with the auth epochs
    if out is None or request.view_args.get("job_id") != public_id:
        try:
            conn = redis_connection()
            if _MISSED_BUMP:  # this process committed a change Redis did not hear of: renew everyone's epoch first
                conn.set(GLOBAL_EPOCH_KEY, secrets.token_hex(8))
                _MISSED_BUMP.clear()
            out = conn.eval(_READ, 12, *_read_keys(user_id, public_id), rq_job_id_for(public_id))
        except RedisError:
            return None
    if not out:
        return None
    data = json.loads(out[0])
    if data["status"] == JobStatus.QUEUED:
        from . import queue

        place = int(out[1]) or None
        durations = dict(zip(KINDS, out[3:], strict=True))
        wait = queue.estimated_wait(place, int(out[2]), durations[data.pop("_kind")]) if place else None
        data["queue_position"], data["estimated_wait_s"] = place, wait
    else:
        data.pop("_kind", None)
    data["next_poll_after_s"] = next_poll_after(data["status"], data["estimated_wait_s"])
    return data


def epochs(user_id: int) -> tuple[bytes, bytes] | None:
    """The two epochs, read (and created if missing) *before* the query whose answer will be cached."""
    if _ttl() <= 0:
        return None
    try:
        conn = redis_connection()
        keys = [GLOBAL_EPOCH_KEY, USER_EPOCH_KEY.format(user=user_id)]
        pipe = conn.pipeline(transaction=False)
        for key in keys:
            pipe.set(key, secrets.token_hex(8), nx=True)
        pipe.mget(keys)
        values = pipe.execute()[-1]
    except RedisError:
        return None
    return (values[0], values[1]) if all(values) else None


def remember(job: GenerationJob, data: dict[str, Any], read_epochs: tuple[bytes, bytes] | None) -> None:
    """Store the answer for the next polls, unless the job waits for its user's turn (not cacheable)."""
    if read_epochs is None or (job.status == JobStatus.QUEUED and job.dispatched_at is None):
        return
    from .services import style

    static = {**data, "queue_position": None, "estimated_wait_s": None, "next_poll_after_s": None,
              "_kind": style(job.style_id).kind}
    key = VIEW_KEY.format(user=job.user_id, job=job.public_id, locale=locale_name())
    try:
        pipe = redis_connection().pipeline(transaction=False)
        pipe.hset(key, mapping={"g": read_epochs[0], "u": read_epochs[1], "body": json.dumps(static),
                                "queued": "1" if job.status == JobStatus.QUEUED else "0"})
        pipe.expire(key, _ttl())
        pipe.execute()
    except RedisError:
        log.warning("job answer not cached: Redis is not answering")


def respond(data: dict[str, Any]) -> Response:
    """The JSON envelope with an ETag and ``Retry-After``; 304 without a body when ``If-None-Match`` matches.

    The body is what ``jsonify`` makes of ``{"data": data}`` (the same bytes: sorted keys, ASCII, compact,
    a newline), built directly: the answer holds JSON types only (``model_dump(mode="json")`` or the
    cached JSON), and a poll is the most frequent request there is.
    """
    body = (json.dumps({"data": data}, ensure_ascii=True, sort_keys=True, separators=(",", ":")) + "\n").encode()
    etag = hashlib.blake2b(body, digest_size=12).hexdigest()
    headers = {"ETag": f'"{etag}"', "Cache-Control": "private, no-cache"}
    if data.get("next_poll_after_s") is not None:
        headers["Retry-After"] = str(data["next_poll_after_s"])
    if _not_modified(etag):
        response = Response(status=304, headers=headers)
        del response.headers["Content-Type"]  # no body: no type (not the default text/html)
        return response
    return Response(body, headers=headers, mimetype="application/json")


def _not_modified(etag: str) -> bool:
    sent = request.environ.get("HTTP_IF_NONE_MATCH")
    if not sent:
        return False
    return sent == f'"{etag}"' or etag in request.if_none_match  # the ETag sent back as is; else parse the list


# --- renewing epochs when jobs and results change --------------------------------------------------

_PENDING = "miaohua_generation_view_pending"  # session.info: {"users": set of ids, "everyone": bool}
_TABLES = frozenset({GenerationJob.__tablename__, GenerationResult.__tablename__})
_WRITE_SQL = re.compile(r"\b(update|delete|truncate|drop|alter|replace)\b", re.IGNORECASE)
_TABLE_SQL = re.compile(r"\b(generation_jobs|generation_results|users)\b", re.IGNORECASE)


def _pending(session: Session) -> dict[str, Any]:
    return session.info.setdefault(_PENDING, {"users": set(), "everyone": False})


@event.listens_for(Session, "after_flush")
def _track_flush(session: Session, _flush_context: Any) -> None:
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, GenerationJob | GenerationResult):
            user_id = obj.__dict__.get("user_id")
        elif obj in session.deleted and getattr(obj, "__tablename__", None) == USERS_TABLE:  # account erased
            identity = instance_state(obj).key
            user_id = identity[1][0] if identity else None
        else:
            continue
        pending = _pending(session)
        if user_id is None:
            pending["everyone"] = True
        else:
            pending["users"].add(user_id)


@event.listens_for(Session, "do_orm_execute")
def _track_statement(state: ORMExecuteState) -> None:
    statement = state.statement
    if isinstance(statement, TextClause):
        if not (_WRITE_SQL.search(statement.text) and _TABLE_SQL.search(statement.text)):
            return
        option = None
    elif state.is_update or state.is_delete:
        table = getattr(statement.table, "name", None)
        if table not in _TABLES and not (table == USERS_TABLE and state.is_delete):
            return
        option = state.execution_options.get(EPOCH_OPTION)
    else:
        return
    pending = _pending(state.session)
    if isinstance(option, int) and not isinstance(option, bool):
        pending["users"].add(option)
    else:
        pending["everyone"] = True


@event.listens_for(Session, "after_commit")
def _bump_after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending or not (pending["users"] or pending["everyone"]) or not has_app_context():
        return
    keys = [USER_EPOCH_KEY.format(user=user_id) for user_id in sorted(pending["users"])]
    if pending["everyone"]:
        keys.append(GLOBAL_EPOCH_KEY)
    try:
        pipe = redis_connection().pipeline(transaction=False)
        for key in keys:
            pipe.set(key, secrets.token_hex(8))
        pipe.execute()
    except RedisError:
        # Redis down: nothing is served from it meanwhile. This process renews the global epoch before it
        # next reads the cache; another process may serve a stale entry until then (or the entry's TTL).
        _MISSED_BUMP.add(True)
        log.warning("job answer epochs not renewed: Redis is not answering")


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, previous_transaction: Any) -> None:
    if not previous_transaction.nested:
        session.info.pop(_PENDING, None)
