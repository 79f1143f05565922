"""Generation rules: create (claiming uploads), queue position, cancel, results, crash recovery.

The job row is the source of truth. Its sources are the uploads it claimed; they are deleted the
moment the job ends however it ends (succeeded, failed, timed out, cancelled, worker lost), and the
sweep finds jobs whose worker died (no heartbeat) and resolves them the same way.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import select

from app.core import events
from app.core.db import utcnow
from app.core.errors import ApiError, Conflict, NotFound
from app.core.i18n import _l
from app.core.jobs import enqueue_now, redis_connection, require_queue
from app.core.pagination import PageQuery, paginate
from app.extensions import db
from app.uploads import services as uploads

from . import positions, queue
from .models import FINISHED, GenerationJob, GenerationResult, JobStatus, rq_job_id_for

if TYPE_CHECKING:
    from app.accounts.models import User

log = logging.getLogger(__name__)

CANCEL_KEY = "generation:cancel:{job}"
HEARTBEAT_KEY = "generation:heartbeat:{job}"
DURATION_KEY = "generation:avg-seconds:{kind}"


class InvalidJob(ApiError):
    status, code, message = 422, "invalid_job", "This job cannot be created."


class AvatarStorageNotConsented(Exception):
    """At the moment an avatar would be stored, the user no longer consents to keeping it."""

    code = "avatar_storage_consent_required"
    message = "Your digital avatar was not saved: saving it needs your consent to avatar storage."


def require_avatar_storage_consent(user: User) -> None:
    """A digital avatar is kept between sessions: its own separate consent (policy §2), not only face processing."""
    from app.consent.purposes import AVATAR_STORAGE
    from app.consent.services import check_purposes

    check_purposes(user, (AVATAR_STORAGE,))


def avatar_storage_consented(user_id: int) -> bool:
    from app.consent.purposes import AVATAR_STORAGE
    from app.consent.services import given_purposes

    return AVATAR_STORAGE in given_purposes(user_id)


def catalogue():
    from workers.generators.styles import list_styles

    return list_styles()


def style(style_id: str):
    from workers.generators.base import UnknownStyle
    from workers.generators.styles import get_style

    try:
        return get_style(style_id)
    except UnknownStyle as exc:
        raise InvalidJob("No such style.", code="unknown_style", details={"style": style_id}) from exc


def source_counts(kind: str) -> tuple[int, int]:
    from workers.generators.base import SOURCE_COUNTS

    return SOURCE_COUNTS[kind]


def create_job(user: User, style_id: str, upload_ids: list[str]) -> GenerationJob:
    spec = style(style_id)
    low, high = source_counts(spec.kind)
    if not low <= len(set(upload_ids)) <= high:
        raise InvalidJob(_l("This style takes %(low)s–%(high)s photo(s).", low=low, high=high),
                         code="wrong_source_count", details={"min": low, "max": high})
    if spec.kind == "avatar":
        require_avatar_storage_consent(user)
    require_queue()
    queue.lock_user(user.id)  # one user's jobs are created and dispatched one at a time
    queue.check_queued_limit(user)
    claimed = uploads.lock_for_job(user.id, set(upload_ids))
    job = GenerationJob(user_id=user.id, style_id=spec.id, status=JobStatus.QUEUED, rq_job_id="")
    db.session.add(job)
    db.session.flush()
    job.rq_job_id = rq_job_id_for(job.public_id)
    from app.orders.entitlements import consume_credit

    consume_credit(user.id, spec.kind, job.id)  # avatar and video cost a credit (402 payment_required)
    uploads.claim(claimed, job.public_id)
    db.session.flush()
    queue.dispatch_next(user.id)  # into RQ now if no job of this user waits there, else at their next turn
    db.session.commit()
    return job


def get_own(user: User, public_id: str) -> GenerationJob:
    job = db.session.scalar(select(GenerationJob).where(GenerationJob.public_id == public_id,
                                                        GenerationJob.user_id == user.id))
    if job is None:
        raise NotFound("No such job.", code="job_not_found")
    return job


def list_own(user: User, page: PageQuery) -> tuple[list[GenerationJob], str | None]:
    """Newest first, one page (see ``app.core.pagination``)."""
    return paginate(select(GenerationJob).where(GenerationJob.user_id == user.id), page, GenerationJob.id.desc())


def queue_position(job: GenerationJob) -> tuple[int | None, int | None]:
    """(place in the fair queue, 1 = next to start; estimated seconds until done); None once it started."""
    return queue.position(job)


def record_duration(kind: str, seconds: float) -> None:
    """Exponential moving average of job durations per kind, for honest wait estimates."""
    conn = redis_connection()
    key = DURATION_KEY.format(kind=kind)
    previous = conn.get(key)
    value = seconds if previous is None else 0.8 * float(previous) + 0.2 * seconds
    conn.set(key, f"{value:.3f}")


def cancel(job: GenerationJob, *, commit: bool = True) -> GenerationJob:
    if job.status in FINISHED:
        raise Conflict("This job already ended.", code="job_already_finished", details={"status": job.status})
    if job.status == JobStatus.QUEUED:
        from rq.exceptions import NoSuchJobError
        from rq.job import Job

        with contextlib.suppress(NoSuchJobError):
            Job.fetch(job.rq_job_id, connection=redis_connection()).cancel()
        left_queue(job)
        finish(job, JobStatus.CANCELLED, "cancelled", "The job was cancelled.")
        if commit and job.dispatched_at is not None:
            # Its turn in RQ passes to the user's next job. Bulk cancellations (commit=False: consent
            # withdrawn, account cancelled) stop every job of the user, so there is nothing to release.
            queue.dispatch_next(job.user_id)
    else:  # running: the worker checks this flag at each progress step
        redis_connection().set(CANCEL_KEY.format(job=job.public_id), "1", ex=3600)
    if commit:
        db.session.commit()
    return job


def left_queue(job: GenerationJob) -> None:
    """The job no longer waits in RQ (started, cancelled): the jobs behind it move up (``positions.py``)."""
    try:
        positions.leave(redis_connection(), job.rq_job_id)
    except RedisError:  # the sweep's reconcile makes it leave later; until then places behind it read one high
        log.warning("queue position bookkeeping failed: Redis is not answering", extra={"job": job.public_id})


def cancel_requested(job: GenerationJob) -> bool:
    return bool(redis_connection().exists(CANCEL_KEY.format(job=job.public_id)))


def finish(job: GenerationJob, status: str, code: str | None = None, message: str | None = None) -> None:
    """End the job and delete its source photos with receipts; the caller commits."""
    job.status = status
    job.finished_at = job.finished_at or utcnow()
    if status != JobStatus.SUCCEEDED:
        job.error_code, job.error_message = code, message
    delete_sources(job, reason=f"job_{status}")
    duration_s = (max(0.0, (job.finished_at - job.started_at).total_seconds())
                  if job.started_at is not None and job.finished_at is not None else None)
    events.generation_job_ended.send(current_app._get_current_object(), job_id=job.id, user_id=job.user_id,
                                     status=status, duration_s=duration_s)


def delete_sources(job: GenerationJob, reason: str) -> int:
    deleted = uploads.delete_sources_of_job(job.public_id, reason)
    job.sources_deleted_at = job.sources_deleted_at or utcnow()
    return deleted


def sources_of(job: GenerationJob) -> list:
    return uploads.sources_of_job(job.public_id)


def result_of(user: User, public_id: str) -> GenerationResult:
    result = db.session.scalar(select(GenerationResult).where(GenerationResult.public_id == public_id,
                                                              GenerationResult.user_id == user.id,
                                                              GenerationResult.deleted_at.is_(None)))
    if result is None:
        raise NotFound("No such result.", code="result_not_found")
    return result


_RQ_ENDED = ("finished", "failed", "stopped", "canceled")


def sweep(now=None) -> dict[str, int]:
    """Resolve jobs whose worker died, re-enqueue dispatched jobs whose RQ job was lost, and dispatch the next
    job of users none of whose jobs is in RQ (``queue.py``)."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    now = now or utcnow()
    conn = redis_connection()
    config = current_app.config
    counts = {"worker_lost": 0, "requeued": 0, "dispatched": 0}
    grace = timedelta(seconds=config["GENERATION_HEARTBEAT_TTL_S"])
    running = db.session.scalars(select(GenerationJob).where(GenerationJob.status == JobStatus.RUNNING))
    lost: list[GenerationJob] = []
    for job in running:
        alive = conn.exists(HEARTBEAT_KEY.format(job=job.public_id))
        if not alive and job.started_at and job.started_at <= now - grace:
            finish(job, JobStatus.FAILED, "worker_lost", "The worker stopped; please try again.")
            with contextlib.suppress(NoSuchJobError):
                Job.fetch(job.rq_job_id, connection=conn).cancel()
            counts["worker_lost"] += 1
            lost.append(job)
    numbered = positions.entries(conn)  # before the rows: see positions.reconcile
    waiting = set(db.session.scalars(select(GenerationJob.rq_job_id).where(
        GenerationJob.status == JobStatus.QUEUED, GenerationJob.dispatched_at.is_not(None))))
    released = positions.reconcile(conn, numbered, waiting)
    if released:
        log.warning("queue places released by the sweep (a leave was lost)", extra={"released": released})
    queued = db.session.scalars(select(GenerationJob).where(GenerationJob.status == JobStatus.QUEUED,
                                                            GenerationJob.dispatched_at.is_not(None),
                                                            GenerationJob.dispatched_at <= now - grace))
    from .tasks import run_generation

    for job in queued:
        try:
            missing = Job.fetch(job.rq_job_id, connection=conn).get_status() in _RQ_ENDED
        except NoSuchJobError:
            missing = True
        if missing:  # gone, or ended (e.g. its work horse died) before the row was started: the job is idempotent
            enqueue_now(run_generation, job.id, job_id=job.rq_job_id)
            counts["requeued"] += 1
    counts["dispatched"] = sum(queue.dispatch_next(user_id) is not None for user_id in queue.stalled_users())
    db.session.commit()
    from .notify import job_finished

    for job in lost:
        job_finished(job)  # best effort, after the commit
    if any(counts.values()):
        log.warning("generation jobs recovered", extra=counts)
    return counts


def user_ids_with_results_between(since, until) -> list[int]:
    """Users who had a generated result stored at some moment in [since, until] (notices)."""
    return list(db.session.scalars(select(GenerationResult.user_id).distinct().where(
        GenerationResult.created_at <= until,
        (GenerationResult.deleted_at.is_(None)) | (GenerationResult.deleted_at >= since))))


def hd_refs(subject: str, public_id: str) -> tuple[int, str, list[str]]:
    """What an HD purchase of a ``result`` or ``job`` concerns (orders never sell one twice): the job's id and
    public id, and the result's public id (a result) or the public ids of the job's live results (a job)."""
    if subject == "result":
        result = db.session.scalar(select(GenerationResult).where(GenerationResult.public_id == public_id))
        return result.job_id, result.job.public_id, [result.public_id]
    job = db.session.scalar(select(GenerationJob).where(GenerationJob.public_id == public_id))
    return job.id, job.public_id, [r.public_id for r in job.results if r.deleted_at is None]


def owns(user_id: int, subject: str, public_id: str) -> bool:
    """Whether the user has this ``result`` or ``job`` (orders: what an HD purchase is for)."""
    model = GenerationResult if subject == "result" else GenerationJob
    return db.session.scalar(select(model.id).where(model.public_id == public_id, model.user_id == user_id)) is not None
