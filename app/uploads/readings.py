"""Readings of stored uploads for the metrics and the dashboard (``app.monitoring.readings``).

Read-only aggregates returning ``(count, oldest)`` pairs, never the ORM rows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Subquery, func, select

from app.extensions import db

from .models import Upload, UploadStatus

# Deleting an upload sets ``deleted_at`` and a final status together (``services.delete``), so a stored
# photo is always in one of these: the filter lets the status index skip the deleted history.
_LIVE_UPLOAD = (str(UploadStatus.PENDING_REVIEW), str(UploadStatus.READY))


def _stored():
    return (Upload.status.in_(_LIVE_UPLOAD), Upload.deleted_at.is_(None))


def stored_sources_of(jobs: Subquery) -> tuple[int, datetime | None]:
    """Photos still stored although claimed by one of ``jobs`` (a subquery with ``public_id`` and
    ``ended_at``): how many, and the earliest ``ended_at`` among their jobs (naive or text on SQLite)."""
    count, oldest = db.session.execute(
        select(func.count(Upload.id), func.min(jobs.c.ended_at))
        .select_from(Upload)
        .join(jobs, jobs.c.public_id == Upload.claimed_by)
        .where(*_stored())
    ).one()
    return int(count or 0), oldest


def unclaimed_created_by(cutoff: datetime) -> tuple[int, datetime | None]:
    """Stored photos never claimed by a job and uploaded at or before ``cutoff``: how many, and the oldest
    upload time."""
    count, oldest = db.session.execute(
        select(func.count(Upload.id), func.min(Upload.created_at))
        .where(*_stored(), Upload.claimed_by.is_(None), Upload.created_at <= cutoff)
    ).one()
    return int(count or 0), oldest
