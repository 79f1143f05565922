"""Reading the system's state from PostgreSQL and Redis: what the dashboard and /metrics report.

Everything here is computed from the shared stores, never from in-process counters, so every web
process answers the same thing however many gunicorn workers there are. The readings are read-only
(no RQ registry clean-up, no writes) and cheap: a handful of indexed aggregate queries and a few Redis
commands per queue, so a scrape every 15 seconds costs nothing noticeable. The database reads are each
domain's own (``app/<domain>/readings.py``: generation, uploads, privacy); this module turns what they
return into ages and percentiles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app
from redis import Redis
from rq import Queue
from rq.job import Job

from app.core.db import utcnow
from app.core.jobs import QUEUE_NAMES, redis_connection
from app.generation import readings as generation
from app.privacy import readings as privacy
from app.uploads import readings as uploads

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

def ended_job_sources(now: datetime | None = None) -> BacklogReading:
    """Source photos still stored although their generation job has ended.

    ``generation.services.finish`` deletes them in the transaction that ends the job, so anything
    here means a crash between the two or a failing object store; the maintenance sweep retries.
    The age counts from the job's end (when the photos had to be gone).
    """
    now = now or utcnow()
    count, oldest = uploads.stored_sources_of(generation.ended_jobs())
    return BacklogReading(count=count, oldest_age_s=_age(_as_utc(oldest), now) if count else None)


def expired_unclaimed_uploads(now: datetime | None = None) -> BacklogReading:
    """Uploads never claimed by a job and past UPLOAD_UNCLAIMED_TTL_S, which the uploads sweep deletes.

    The age counts from the end of the TTL (when the photo had to be gone), not from the upload.
    """
    now = now or utcnow()
    ttl = timedelta(seconds=current_app.config["UPLOAD_UNCLAIMED_TTL_S"])
    count, oldest = uploads.unclaimed_created_by(now - ttl)
    oldest = _as_utc(oldest)
    return BacklogReading(count=count, oldest_age_s=_age(oldest + ttl, now) if count and oldest else None)


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
    pending, overdue, oldest = privacy.pending_requests(now)
    return RightsReading(pending=pending, overdue=overdue, oldest_age_s=_age(_as_utc(oldest), now) if pending else None)


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
    ended, in_progress = generation.ended_since(since), generation.in_progress()
    latencies = generation.succeeded_durations_s(since, _LATENCY_SAMPLE)
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
