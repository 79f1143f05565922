"""Readings of generation jobs for the metrics and the dashboard (``app.monitoring.readings``).

Read-only, a few indexed aggregates; plain values (counts, durations) or a SQL subquery another
domain's reading can join against, never the ORM rows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Subquery, and_, func, select

from app.extensions import db

from .models import FINISHED, GenerationJob, JobStatus


def ended_jobs() -> Subquery:
    """Jobs that have ended, as a subquery with the columns ``public_id`` and ``ended_at`` (when they ended)."""
    return (select(GenerationJob.public_id,
                   func.coalesce(GenerationJob.finished_at, GenerationJob.created_at).label("ended_at"))
            .where(GenerationJob.status.in_([str(s) for s in FINISHED])).subquery("ended_jobs"))


def ended_since(since: datetime) -> dict[str, int]:
    """Jobs that ended at or after ``since``, by outcome (every outcome present, 0 when none)."""
    ended = dict.fromkeys((str(s) for s in FINISHED), 0)
    for status, count in db.session.execute(
            select(GenerationJob.status, func.count(GenerationJob.id))
            .where(GenerationJob.status.in_(list(ended)), GenerationJob.finished_at >= since)
            .group_by(GenerationJob.status)):
        ended[status] = int(count)
    return ended


def in_progress() -> dict[str, int]:
    """Jobs queued and running right now."""
    counts = dict.fromkeys((str(JobStatus.QUEUED), str(JobStatus.RUNNING)), 0)
    for status, count in db.session.execute(
            select(GenerationJob.status, func.count(GenerationJob.id))
            .where(GenerationJob.status.in_(list(counts))).group_by(GenerationJob.status)):
        counts[status] = int(count)
    return counts


def succeeded_durations_s(since: datetime, limit: int) -> list[float]:
    """Created → finished, in seconds, of the newest ``limit`` jobs that succeeded since ``since``; sorted."""
    rows = db.session.execute(
        select(GenerationJob.created_at, GenerationJob.finished_at)
        .where(and_(GenerationJob.status == JobStatus.SUCCEEDED, GenerationJob.finished_at >= since))
        .order_by(GenerationJob.finished_at.desc()).limit(limit)).all()
    return sorted(max(0.0, (finished - created).total_seconds()) for created, finished in rows)
