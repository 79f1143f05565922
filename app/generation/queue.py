"""The fair generation queue: one user's burst does not push everyone else back.

Policy (docs/generation.md § Generation):
- Each user has at most ``SLOTS_PER_USER`` (one) job *waiting in the RQ queue*. A new job is
  dispatched (``dispatched_at`` set, its RQ job enqueued after the commit) only if its user has none
  waiting there; otherwise it waits in the database for the user's turn.
- When a user's dispatched job starts (or is cancelled while it waits), that user's next job is
  dispatched, at the tail of the RQ queue, in the same transaction. So the RQ queue holds one job
  per user with work to do: users take turns (round-robin), and a user with ten jobs gets every
  other turn next to a user with one, never ten turns in a row. The next job is released when the
  previous one *starts*, not when it ends, so a user alone still keeps every worker busy.
- The row is the source of truth: ``queued`` with ``dispatched_at`` null = waiting for the user's
  turn, not null = in RQ. The sweep re-enqueues dispatched jobs RQ lost and dispatches a user's next
  job when no job of theirs is in RQ (a lost release).
- ``GENERATION_MAX_QUEUED_PER_USER`` caps a user's not yet started jobs (429 ``rate_limited``).

Positions follow the same rule: every job now in RQ is ahead of a waiting one; a user's k-th
waiting job enters RQ in the k-th round after them, and each round lists users in the order of
their job in RQ (the order in which their turns come). The place of a job in RQ is O(1): a sequence
number taken with RQ's push and a moving head (``positions.py``).
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import func, select

from app.accounts import services as accounts
from app.core.db import utcnow
from app.core.errors import RateLimited
from app.core.jobs import redis_connection
from app.extensions import db

from . import positions
from .models import GenerationJob, JobStatus

if TYPE_CHECKING:
    from app.accounts.models import User

log = logging.getLogger(__name__)

SLOTS_PER_USER = 1


def _queued(user_id: int | None = None):
    where = [GenerationJob.status == JobStatus.QUEUED]
    if user_id is not None:
        where.append(GenerationJob.user_id == user_id)
    return where


def lock_user(user_id: int) -> None:
    """Serialise one user's queue changes (PostgreSQL; SQLite serialises writers anyway)."""
    accounts.lock_user(user_id)


def check_queued_limit(user: User) -> None:
    """429 when the user already has GENERATION_MAX_QUEUED_PER_USER jobs not yet started; call under lock_user."""
    cap = current_app.config["GENERATION_MAX_QUEUED_PER_USER"]
    queued = db.session.scalar(select(func.count(GenerationJob.id)).where(*_queued(user.id))) or 0
    if queued < cap:
        return
    head = db.session.scalar(select(GenerationJob).where(*_queued(user.id), GenerationJob.dispatched_at.is_not(None))
                             .order_by(GenerationJob.id).limit(1))
    _, wait = position(head) if head is not None else (None, None)
    # A slot frees when the user's next job starts; its estimated end is a conservative answer.
    retry_after = wait or math.ceil(current_app.config["GENERATION_DEFAULT_SECONDS"])
    db.session.rollback()
    raise RateLimited(retry_after=max(1, retry_after), details={"max_queued": cap},
                      message="You already have the most jobs waiting; wait until one of them starts.")


def dispatch_next(user_id: int) -> GenerationJob | None:
    """Dispatch the user's oldest waiting job if no job of theirs waits in RQ; the caller commits."""
    lock_user(user_id)
    in_rq = db.session.scalar(select(func.count(GenerationJob.id)).where(
        *_queued(user_id), GenerationJob.dispatched_at.is_not(None))) or 0
    if in_rq >= SLOTS_PER_USER:
        return None
    job = db.session.scalar(select(GenerationJob).where(*_queued(user_id), GenerationJob.dispatched_at.is_(None))
                            .order_by(GenerationJob.id).limit(1))
    if job is not None:
        from .tasks import run_generation

        job.dispatched_at = utcnow()
        run_generation.enqueue_after_commit(job.id, job_id=job.rq_job_id)
    return job


def stalled_users() -> list[int]:
    """Users with jobs waiting for their turn but none in RQ: a release was lost (the sweep repairs it)."""
    in_rq = select(GenerationJob.user_id).where(*_queued(), GenerationJob.dispatched_at.is_not(None))
    return list(db.session.scalars(select(GenerationJob.user_id).where(
        *_queued(), GenerationJob.dispatched_at.is_(None), GenerationJob.user_id.not_in(in_rq)).distinct()))


def position(job: GenerationJob) -> tuple[int | None, int | None]:
    """(place in the queue, 1 = next to start; estimated seconds until done); None once it started.

    A job in RQ: O(1), from its sequence number (``positions.py``), no list scan and no query. A job
    waiting for its user's turn: the rule below, with one query over the jobs waiting for a turn.
    """
    if job.status != JobStatus.QUEUED:
        return None, None
    from .services import DURATION_KEY, style

    conn = redis_connection()
    try:
        if job.dispatched_at is not None:
            snap = positions.snapshot(conn, [job.rq_job_id])
            place = snap.places[0]
        else:
            snap, place = _place_waiting(conn, job)
        if place is None:
            return None, None
        average = conn.get(DURATION_KEY.format(kind=style(job.style_id).kind))
    except RedisError:  # an estimate only: a job that exists is still answered (e.g. right after creating it)
        log.warning("queue position unavailable: Redis is not answering")
        return None, None
    return place, estimated_wait(place, snap.workers, average)


def estimated_wait(place: int, workers: int, average: bytes | str | float | None) -> int:
    """Seconds until done: the rounds of ``workers`` jobs before this one's, each the average duration."""
    seconds = float(average or current_app.config["GENERATION_DEFAULT_SECONDS"])
    return round(((place - 1) // max(1, workers) + 1) * seconds)


def _place_waiting(conn, job: GenerationJob) -> tuple[positions.Snapshot, int]:
    waiting = dict(db.session.execute(select(GenerationJob.user_id, func.count(GenerationJob.id)).where(
        *_queued(), GenerationJob.dispatched_at.is_(None)).group_by(GenerationJob.user_id)).all())
    # This job enters RQ in round k: after the k-1 of its user's jobs waiting before it.
    k = db.session.scalar(select(func.count(GenerationJob.id)).where(
        *_queued(job.user_id), GenerationJob.dispatched_at.is_(None), GenerationJob.id <= job.id)) or 1
    in_rq = dict(db.session.execute(select(GenerationJob.user_id, GenerationJob.rq_job_id).where(
        *_queued(), GenerationJob.dispatched_at.is_not(None), GenerationJob.user_id.in_(list(waiting)))).all())
    users = list(in_rq)
    snap = positions.snapshot(conn, [in_rq[user_id] for user_id in users])
    turn = {user_id: place for user_id, place in zip(users, snap.places, strict=True) if place is not None}
    mine = turn.get(job.user_id, math.inf)
    ahead = snap.in_rq  # everything in RQ now starts first
    ahead += sum(min(count, k - 1) for count in waiting.values())  # earlier rounds, this user's included
    ahead += sum(1 for user_id, count in waiting.items()  # this round: users whose turn comes first
                 if user_id != job.user_id and count >= k and turn.get(user_id, math.inf) < mine)
    return snap, ahead + 1
