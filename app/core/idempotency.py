"""``Idempotency-Key``: a retried POST answers the first response instead of doing the work again.

A mini-program on a flaky mobile network retries; without this a retry could create a second order
or a second job. Views declared ``@endpoint(..., idempotent=True)`` honour the header:

- same user, same key, same request (method, path, query and body, compared by a SHA-256
  fingerprint; JSON compared parsed, multipart by its fields and the files' contents) → the stored
  first response (status, body), marked ``Idempotent-Replayed: true``; the work is not done again;
- same key, different request → 422 ``idempotency_key_reused``;
- a key is 1–255 visible ASCII characters (else 400 ``invalid_idempotency_key``), per user, and
  forgotten ``IDEMPOTENCY_KEY_TTL_S`` after its first use.

Exactly once: before the view runs, a row unique on ``(user_id, key)`` is inserted — not committed
— in the request's own transaction, so it commits with the view's effect or not at all: one
``INSERT … ON CONFLICT DO NOTHING … RETURNING`` (PostgreSQL, SQLite). On PostgreSQL a concurrent
duplicate's insert waits on the unique index until the first transaction ends, then inserts nothing
(the effect is there: answer as it did) or claims the key (the first rolled back: this one does the
work). A view that commits through :func:`commit` instead of ``db.session.commit()`` leaves that
commit to :func:`run_once` while a key is claimed, which stores the answer and commits it with the
work in one transaction: a duplicate never sees the effect without its answer. A view that commits
itself commits the claim unanswered; a duplicate that finds the key claimed but not yet answered
polls for up to ``IDEMPOTENCY_WAIT_S``, then answers 409 ``idempotency_key_in_progress``.
Only the response is stored, encrypted (it may carry a ticket's text); the row goes with the account
(``ON DELETE CASCADE``) and a sweep deletes expired rows.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import Response, current_app, g, request
from flask_login import current_user
from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint, bindparam, delete, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from app.core.crypto import open_text, seal_text
from app.core.db import Base, Sealed, UTCDateTime, commit_keeping_loaded, utcnow
from app.core.errors import ApiError, BadRequest, Conflict, ValidationFailed, error_response
from app.extensions import db

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_POLL_S = 0.05
_PURPOSE = "idempotency.response"
_CLAIMED = "idempotency_claimed"  # on flask.g while run_once runs the view under a claimed key


class IdempotencyKeyReused(ValidationFailed):
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was already used for a different request; use a new key."


class IdempotencyKeyInProgress(Conflict):
    code = "idempotency_key_in_progress"
    message = "A request with this Idempotency-Key is still being processed; retry shortly."


class InvalidIdempotencyKey(BadRequest):
    code = "invalid_idempotency_key"
    message = "Idempotency-Key must be 1 to 255 visible ASCII characters."


ERRORS = (InvalidIdempotencyKey, IdempotencyKeyReused, IdempotencyKeyInProgress)


class IdempotencyKey(Base):
    """One user's key and the first response answered for it (``status`` is null while in progress)."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    key: Mapped[str] = mapped_column(String(255), nullable=False)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[int | None] = mapped_column(Integer)
    content_type: Mapped[str | None] = mapped_column(String(100))
    # The answer may hold personal data (a ticket's text, an order): encrypted like the tables it came from.
    body_ciphertext: Mapped[bytes | None] = mapped_column(Sealed())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False, index=True)


_TABLE = IdempotencyKey.__table__
# Built once (building a statement per request costs more than running it). The claim is text: SQLAlchemy does
# not cache the compiled form of its dialect-specific INSERT … ON CONFLICT; valid on PostgreSQL and SQLite ≥ 3.35.
_CLAIM = (text('INSERT INTO idempotency_keys (user_id, "key", fingerprint, created_at) '
               'VALUES (:user_id, :key, :fingerprint, :created_at) '
               'ON CONFLICT (user_id, "key") DO NOTHING RETURNING id')
          .bindparams(bindparam("user_id", type_=Integer()), bindparam("key", type_=String()),
                      bindparam("fingerprint", type_=String()), bindparam("created_at", type_=UTCDateTime())))
_ANSWER = (update(_TABLE).where(_TABLE.c.user_id == bindparam("user_id_"), _TABLE.c.key == bindparam("key_"))
           .values(status=bindparam("status"), content_type=bindparam("content_type"),
                   body_ciphertext=bindparam("body_ciphertext")))


def fingerprint() -> str:
    """What makes two requests "the same": method, path, sorted query, and the body's content."""
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.path}\n".encode())
    digest.update(json.dumps(sorted(request.args.items(multi=True))).encode())
    if request.mimetype == "multipart/form-data":
        digest.update(json.dumps(sorted(request.form.items(multi=True))).encode())
        for name, file in sorted(request.files.items(multi=True), key=lambda item: item[0]):
            digest.update(f"\nfile {name} {file.filename}\n".encode())
            for chunk in iter(lambda f=file: f.stream.read(65536), b""):
                digest.update(chunk)
            file.stream.seek(0)
    else:
        raw = request.get_data(cache=True)
        try:
            digest.update(json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode())
        except (ValueError, RecursionError):
            digest.update(raw)
    return digest.hexdigest()


def _ttl() -> timedelta:
    return timedelta(seconds=current_app.config["IDEMPOTENCY_KEY_TTL_S"])


def _find(user_id: int, key: str) -> IdempotencyKey | None:
    return db.session.scalar(select(IdempotencyKey).where(IdempotencyKey.user_id == user_id,
                                                          IdempotencyKey.key == key))


def _replay(row: IdempotencyKey, request_fingerprint: str) -> Response | None:
    """The stored response, or None while the first request is still running."""
    if row.fingerprint != request_fingerprint:
        raise IdempotencyKeyReused(details={"key": row.key})
    if row.status is None:
        return None
    body = open_text(row.body_ciphertext, _PURPOSE) if row.body_ciphertext else None
    response = Response(body, status=row.status, mimetype=row.content_type)
    response.headers[REPLAYED_HEADER] = "true"
    return response


def _wait_for_first(user_id: int, key: str, request_fingerprint: str) -> Response:
    deadline = time.monotonic() + current_app.config["IDEMPOTENCY_WAIT_S"]
    while True:
        db.session.rollback()  # a fresh snapshot each look
        row = _find(user_id, key)
        if row is not None and (answer := _replay(row, request_fingerprint)) is not None:
            return answer
        if time.monotonic() >= deadline:
            raise IdempotencyKeyInProgress(headers={"Retry-After": "1"}, details={"retry_after": 1})
        time.sleep(_POLL_S)


def _insert(values: dict):
    """``INSERT … ON CONFLICT (user_id, key) DO NOTHING`` in this database's dialect (PostgreSQL or SQLite)."""
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(_TABLE).values(**values).on_conflict_do_nothing(index_elements=["user_id", "key"])


def _insert_claim(user_id: int, key: str, request_fingerprint: str) -> bool:
    """Claim the key in this transaction: True; False when a row holds it already. On PostgreSQL a concurrent
    first request's uncommitted row is waited for (the unique index) until its transaction ends."""
    claimed = db.session.connection().execute(_CLAIM, {"user_id": user_id, "key": key,
                                                       "fingerprint": request_fingerprint, "created_at": utcnow()})
    return claimed.first() is not None


def _claim(user_id: int, key: str, request_fingerprint: str) -> Response | None:
    """Insert the key in this request's transaction; or answer as its first use did."""
    for _ in range(3):  # a second or third look only when the row expired or went meanwhile (the sweep)
        if _insert_claim(user_id, key, request_fingerprint):
            return None
        row = _find(user_id, key)
        if row is None:
            continue
        if row.created_at <= utcnow() - _ttl():
            db.session.delete(row)  # expired: the key is free again, in this same transaction
            db.session.flush()
            continue
        answer = _replay(row, request_fingerprint)
        return answer if answer is not None else _wait_for_first(user_id, key, request_fingerprint)
    return _wait_for_first(user_id, key, request_fingerprint)


def _store(user_id: int, key: str, request_fingerprint: str, status: int, content_type: str | None,
           body: str) -> None:
    """Record the answer on the claimed row and commit: with the view's work, unless the view committed it."""
    answer = {"status": status, "content_type": content_type, "body_ciphertext": seal_text(body, _PURPOSE)}
    stored = db.session.connection().execute(_ANSWER, {"user_id_": user_id, "key_": key, **answer}).rowcount
    if not stored:  # the view rolled the claim back with its own transaction: record the answer anew
        db.session.execute(_insert({"user_id": user_id, "key": key, "fingerprint": request_fingerprint,
                                    "created_at": utcnow(), **answer}))
    db.session.commit()  # may carry the view's work (commit()): a failure here is the request's failure


def commit() -> None:
    """Commit the view's work: at once, or — while :func:`run_once` holds a claimed key for this request — flushed
    now and committed by ``run_once`` together with the answer it stores (one transaction, so a duplicate never
    finds the effect without its answer). Either way what the session holds stays loaded: the answer is built
    from what was just written, without reloading it."""
    if g.get(_CLAIMED):
        db.session.flush()
    else:
        commit_keeping_loaded(db.session)


def run_once(call: Callable[[], Response]) -> Response:
    """Run ``call`` (the view) at most once per (user, Idempotency-Key); see the module docstring."""
    key = request.headers.get(HEADER)
    if key is None or not current_user.is_authenticated:
        return call()
    if not _VALID_KEY.match(key):
        raise InvalidIdempotencyKey()
    user_id = current_user.id
    request_fingerprint = fingerprint()
    answer = _claim(user_id, key, request_fingerprint)
    if answer is not None:
        return answer
    g.setdefault(_CLAIMED, True)
    try:
        response = call()
    except ApiError as exc:
        db.session.rollback()
        if _find(user_id, key) is not None:  # the view committed its effect before failing
            failed = error_response(exc.status, exc.code, exc.message, exc.details)
            _store(user_id, key, request_fingerprint, exc.status, failed.mimetype, failed.get_data(as_text=True))
        raise
    except BaseException:
        db.session.rollback()
        if _find(user_id, key) is not None:
            failed = error_response(500, "internal_error", "Something went wrong on our side.")
            _store(user_id, key, request_fingerprint, 500, failed.mimetype, failed.get_data(as_text=True))
        raise
    finally:
        g.pop(_CLAIMED, None)
    _store(user_id, key, request_fingerprint, response.status_code, response.mimetype,
           response.get_data(as_text=True))
    return response


def purge_expired(now: datetime | None = None) -> int:
    """Delete keys past their time (the periodic sweep); returns how many."""
    cutoff = (now or utcnow()) - _ttl()
    result = db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at <= cutoff))
    return result.rowcount or 0


def lifecycle():
    """The kept responses' part of the lifecycle (app.core.lifecycle): the sealed column key rotation re-keys.
    The rows go with the account (ON DELETE CASCADE) and after ``IDEMPOTENCY_KEY_TTL_S`` (the periodic sweep)."""
    from app.core.lifecycle import Lifecycle, SealedColumn

    return Lifecycle(domain="idempotency",
                     sealed_columns=lambda: [SealedColumn(IdempotencyKey, "body_ciphertext", _PURPOSE)])
