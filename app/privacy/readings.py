"""Readings of rights requests for the metrics and the dashboard (``app.monitoring.readings``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from app.extensions import db

from .models import DeletionRequest


def pending_requests(now: datetime) -> tuple[int, int, datetime | None]:
    """Pending rights requests: how many, how many past their due date, and when the oldest was made."""
    pending, overdue, oldest = db.session.execute(
        select(func.count(DeletionRequest.id),
               func.count(DeletionRequest.id).filter(DeletionRequest.due_at < now),
               func.min(DeletionRequest.created_at))
        .where(DeletionRequest.status == "pending")
    ).one()
    return int(pending or 0), int(overdue or 0), oldest
