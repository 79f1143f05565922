"""Counting domain events: generation jobs ending, WeChat Pay notifications failing verification.

A job's end is announced inside the transaction that ends it (``generation.services.finish``); it is
counted only when that transaction commits, so a rolled-back attempt (the worker retries the job) is
not counted twice. Its duration is read from the job row (``started_at`` → ``finished_at``) when the
event is sent, because the row may be gone by the commit (an account cancellation deletes it).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from app.core import events
from app.extensions import db

from . import metrics

_PENDING_KEY = "miaohua_pending_job_outcomes"


def on_generation_job_ended(sender: Any, job_id: int, user_id: int, status: str, duration_s: float | None = None,
                            **_: Any) -> None:
    duration = duration_s
    label = str(status) if str(status) in metrics.JOB_STATUSES else "other"
    db.session().info.setdefault(_PENDING_KEY, []).append((label, duration))


def on_payment_notification_rejected(sender: Any, reason: str = "", **_: Any) -> None:
    metrics.PAYMENT_NOTIFICATIONS_REJECTED.labels(reason=metrics.rejection_reason_class(reason)).inc()


@event.listens_for(Session, "after_commit")
def _count_committed_outcomes(session: Session) -> None:
    for status, duration in session.info.pop(_PENDING_KEY, []):
        metrics.GENERATION_JOBS_ENDED.labels(status=status).inc()
        if duration is not None:
            metrics.GENERATION_JOB_DURATION.labels(status=status).observe(duration)


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back_outcomes(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.nested:
        return  # a savepoint rolled back; the outer transaction may still commit the job's end
    session.info.pop(_PENDING_KEY, None)


def connect() -> None:
    """Subscribe (idempotent: blinker keeps one connection per receiver)."""
    events.generation_job_ended.connect(on_generation_job_ended, weak=False)
    events.payment_notification_rejected.connect(on_payment_notification_rejected, weak=False)
