from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import UTCDateTime, utcnow
from app.core.objects import StoredObject
from app.extensions import db


def _public_id() -> str:
    return uuid.uuid4().hex


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


def rq_job_id_for(public_id: str) -> str:
    """The RQ job id of a generation job: set at creation, and read by the poll's queue position (polling.py)."""
    return f"generation-{public_id}"


class GenerationJob(db.Model):
    """The source of truth of one generation; it names its RQ job (``rq_job_id``)."""

    __tablename__ = "generation_jobs"
    __table_args__ = (Index("ix_generation_jobs_user", "user_id", "id"),
                      Index("ix_generation_jobs_status", "status", "created_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=_public_id)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    style_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED)
    progress: Mapped[float] = mapped_column(default=0.0)
    rq_job_id: Mapped[str] = mapped_column(String(64), unique=True)
    attempts: Mapped[int] = mapped_column(default=0)
    error_code: Mapped[str | None] = mapped_column(String(32), default=None)
    error_message: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The fair queue (queue.py): set when its RQ job is enqueued; null while it waits for its user's turn.
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    sources_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    results: Mapped[list[GenerationResult]] = relationship(back_populates="job", order_by="GenerationResult.id")


class GenerationResult(db.Model):
    __tablename__ = "generation_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=_public_id)
    job_id: Mapped[int] = mapped_column(ForeignKey("generation_jobs.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # image | video
    mime_type: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column()
    height: Mapped[int] = mapped_column()
    original_object_id: Mapped[str | None] = mapped_column(ForeignKey("stored_objects.id"), default=None)
    preview_object_id: Mapped[str | None] = mapped_column(ForeignKey("stored_objects.id"), default=None)
    # Geometric likeness to the source photo (app/generation/likeness.py): None when not checked (ID photo, video)
    likeness_score: Mapped[float | None] = mapped_column(default=None)
    likeness_flagged: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    job: Mapped[GenerationJob] = relationship(back_populates="results")
    original: Mapped[StoredObject | None] = relationship(foreign_keys=[original_object_id])
    preview: Mapped[StoredObject | None] = relationship(foreign_keys=[preview_object_id])
