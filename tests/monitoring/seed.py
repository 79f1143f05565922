"""Seeding helpers for the monitoring tests: rows and queue entries with chosen ages."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from rq.job import Job
from rq.utils import utcformat

from app.core.db import utcnow
from app.core.jobs import enqueue_now, redis_connection
from app.extensions import db
from app.ops.tasks import PROBE_TASKS
from app.privacy.models import DeletionRequest
from tests.privacy.test_retention import make_job, make_upload, make_user

__all__ = ["ended_job_with_source", "enqueue_aged", "make_job", "make_upload", "make_user", "rights_request"]


def rights_request(user_id: int | None, *, status: str = "pending", due_in: timedelta,
                   created_at: datetime | None = None) -> DeletionRequest:
    now = utcnow()
    request = DeletionRequest(public_id=uuid.uuid4().hex, user_id=user_id, categories="uploads", status=status,
                              channel="email", created_at=created_at or now - timedelta(days=1), due_at=now + due_in)
    db.session.add(request)
    db.session.flush()
    return request


def enqueue_aged(queue_name: str, age: timedelta) -> Job:
    """A job waiting in ``queue_name`` as if enqueued ``age`` ago (RQ stamps enqueue time itself)."""
    job = enqueue_now(PROBE_TASKS[queue_name], 1)
    redis_connection().hset(job.key, "enqueued_at", utcformat(utcnow() - age))
    return job


def ended_job_with_source(user, *, ended_ago: timedelta, status: str = "failed", deleted: bool = False):
    """A job that ended ``ended_ago`` with one claimed source photo (deleted or still stored)."""
    finished = utcnow() - ended_ago
    job = make_job(user, status=status, finished_at=finished, created_at=finished - timedelta(seconds=30))
    make_upload(user, claimed_by=job.public_id, created_at=finished - timedelta(seconds=60),
                deleted_at=finished if deleted else None)
    return job
