"""Reading the system's state from PostgreSQL and Redis: what the dashboard and /metrics report.

Everything here is computed from the shared stores, never from in-process counters, so every web
process answers the same thing however many gunicorn workers there are. The readings are read-only
(no RQ registry clean-up, no writes) and cheap: a handful of indexed aggregate queries and a few Redis
commands per queue, so a scrape every 15 seconds costs nothing noticeable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app
from redis import Redis
from rq import Queue
from rq.job import Job
from sqlalchemy import and_, func, select

from app.core.db import utcnow
from app.core.jobs import QUEUE_NAMES, redis_connection
from app.extensions import db
from app.generation.models import FINISHED, GenerationJob, JobStatus
from app.privacy.models import DeletionRequest
from app.uploads.models import Upload, UploadStatus

# How many ids at the head of a queue are looked at to find its oldest job: ids of jobs deleted since
# (cancelled, expired) can linger there, and the first live one is the oldest that still waits.
_HEAD_PROBE = 10


@dataclass(frozen=True)
class QueueReading:
    depth: int  # jobs waiting
    oldest_age_s: float | None  # how long the job at the head has waited; None when empty
    failed: int  # jobs in the failed registry that have not expired yet


@dataclass(frozen=True)
class BacklogReading:
    count: int
    oldest_age_s: float | None  # age past the moment the data had to be gone; None when nothing is late


def _age(since: datetime | None, now: datetime) -> float | None:
    if since is None:
        return None
    if since.tzinfo is None:  # RQ stores UTC without an offset
        since = since.replace(tzinfo=UTC)
    return max(0.0, (now - since).total_seconds())


# --- queues -------------------------------------------------------------------------------------------

def queue_reading(name: str, connection: Redis, now: datetime | None = None) -> QueueReading:
    """Depth, oldest waiting job's age and failed-registry size of one RQ queue."""
    now = now or utcnow()
    queue = Queue(name, connection=connection)
    depth = queue.count
    oldest = None
    if depth:
        head = queue.get_job_ids(0, _HEAD_PROBE)
        for job in Job.fetch_many(head, connection=connection):
            if job is not None and job.enqueued_at is not None:
                oldest = _age(job.enqueued_at, now)
                break
    # The registry is a sorted set scored by expiry time; counting only unexpired entries gives what
    # ``registry.count`` would after its clean-up, without the clean-up's writes.
    failed = connection.zcount(queue.failed_job_registry.key, now.timestamp(), "+inf")
    return QueueReading(depth=depth, oldest_age_s=oldest, failed=int(failed))


def queue_readings(now: datetime | None = None) -> dict[str, QueueReading]:
    """Every named queue; raises the Redis error when Redis does not answer (callers decide)."""
    connection = redis_connection()
    return {name: queue_reading(name, connection, now) for name in QUEUE_NAMES}


# --- deletion backlog (policy: sources go when their job ends; unclaimed uploads after their TTL) ---

# Deleting an upload sets ``deleted_at`` and a final status together (``uploads.services.delete``), so a
# stored photo is always in one of these: the filter lets the status index skip the deleted history.
_LIVE_UPLOAD = (str(UploadStatus.PENDING_REVIEW), str(UploadStatus.READY))


def ended_job_sources(now: datetime | None = None) -> BacklogReading:
    """Source photos still stored although their generation job has ended.

    ``generation.services.finish`` deletes them in the transaction that ends the job, so anything
    here means a crash between the two or a failing object store; the maintenance sweep retries.
    The age counts from the job's end (when the photos had to be gone).
    """
    now = now or utcnow()
    ended_at = func.coalesce(GenerationJob.finished_at, GenerationJob.created_at)
    count, oldest = db.session.execute(
        select(func.count(Upload.id), func.min(ended_at))
        .select_from(Upload)
        .join(GenerationJob, GenerationJob.public_id == Upload.claimed_by)
        .where(Upload.status.in_(_LIVE_UPLOAD), Upload.deleted_at.is_(None),
               GenerationJob.status.in_([str(s) for s in FINISHED]))
    ).one()
    return BacklogReading(count=int(count or 0), oldest_age_s=_age(_as_utc(oldest), now) if count else None)


def expired_unclaimed_uploads(now: datetime | None = None) -> BacklogReading:
    """Uploads never claimed by a job and past UPLOAD_UNCLAIMED_TTL_S, which the uploads sweep deletes.

    The age counts from the end of the TTL (when the photo had to be gone), not from the upload.
    """
    now = now or utcnow()
    ttl = timedelta(seconds=current_app.config["UPLOAD_UNCLAIMED_TTL_S"])
    count, oldest = db.session.execute(
        select(func.count(Upload.id), func.min(Upload.created_at))
        .where(Upload.status.in_(_LIVE_UPLOAD), Upload.deleted_at.is_(None), Upload.claimed_by.is_(None),
               Upload.created_at <= now - ttl)
    ).one()
    oldest = _as_utc(oldest)
    return BacklogReading(count=int(count or 0), oldest_age_s=_age(oldest + ttl, now) if count and oldest else None)


def deletion_backlog(now: datetime | None = None) -> dict[str, BacklogReading]:
    now = now or utcnow()
    return {"job_sources": ended_job_sources(now), "unclaimed_uploads": expired_unclaimed_uploads(now)}


# --- rights requests (policy §8: answered within 15 working days) --------------------------------

@dataclass(frozen=True)
class RightsReading:
    pending: int
    overdue: int  # pending past their due date
    oldest_age_s: float | None  # age of the oldest pending request


def rights_requests(now: datetime | None = None) -> RightsReading:
    now = now or utcnow()
    pending_only = DeletionRequest.status == "pending"
    pending, overdue, oldest = db.session.execute(
        select(func.count(DeletionRequest.id),
               func.count(DeletionRequest.id).filter(DeletionRequest.due_at < now),
               func.min(DeletionRequest.created_at))
        .where(pending_only)
    ).one()
    return RightsReading(pending=int(pending or 0), overdue=int(overdue or 0),
                         oldest_age_s=_age(_as_utc(oldest), now) if pending else None)


# --- generation jobs -----------------------------------------------------------------------------

@dataclass(frozen=True)
class JobsReading:
    ended_by_status: dict[str, int]  # jobs that ended in the window, by outcome
    in_progress: dict[str, int]  # queued / running right now
    latency_p50_s: float | None  # created → finished of succeeded jobs in the window (what the user waits)
    latency_p95_s: float | None


# Enough samples for stable percentiles without loading an unbounded number of rows.
_LATENCY_SAMPLE = 5000


def jobs_reading(window: timedelta = timedelta(hours=1), now: datetime | None = None) -> JobsReading:
    now = now or utcnow()
    since = now - window
    ended = dict.fromkeys((str(s) for s in FINISHED), 0)
    for status, count in db.session.execute(
            select(GenerationJob.status, func.count(GenerationJob.id))
            .where(GenerationJob.status.in_(list(ended)), GenerationJob.finished_at >= since)
            .group_by(GenerationJob.status)):
        ended[status] = int(count)
    in_progress = dict.fromkeys((str(JobStatus.QUEUED), str(JobStatus.RUNNING)), 0)
    for status, count in db.session.execute(
            select(GenerationJob.status, func.count(GenerationJob.id))
            .where(GenerationJob.status.in_(list(in_progress))).group_by(GenerationJob.status)):
        in_progress[status] = int(count)
    rows = db.session.execute(
        select(GenerationJob.created_at, GenerationJob.finished_at)
        .where(and_(GenerationJob.status == JobStatus.SUCCEEDED, GenerationJob.finished_at >= since))
        .order_by(GenerationJob.finished_at.desc()).limit(_LATENCY_SAMPLE)).all()
    latencies = sorted(max(0.0, (finished - created).total_seconds()) for created, finished in rows)
    return JobsReading(ended_by_status=ended, in_progress=in_progress,
                       latency_p50_s=percentile(latencies, 0.50), latency_p95_s=percentile(latencies, 0.95))


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of already sorted values (None for no values)."""
    if not sorted_values:
        return None
    rank = math.ceil(round(fraction * len(sorted_values), 9))  # round: 0.95 * 20 must be 19, not 19.000…01
    return round(sorted_values[min(max(rank, 1), len(sorted_values)) - 1], 3)


def _as_utc(value: datetime | None) -> datetime | None:
    """Aggregates (min over a column) can come back naive from SQLite; every stored time is UTC."""
    if value is None:
        return None
    if isinstance(value, str):  # SQLite returns text for an aggregate over a coalesce()
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
