from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import UTCDateTime, utcnow
from app.core.objects import StoredObject
from app.extensions import db


class UploadStatus(enum.StrEnum):
    PENDING_REVIEW = "pending_review"  # WeChat's content check has not answered yet
    READY = "ready"
    REJECTED = "rejected"  # the content check refused it; the photo is already deleted
    DELETED = "deleted"


class Upload(db.Model):
    """A portrait waiting for (or claimed by) a generation job. The photo itself is a StoredObject."""

    __tablename__ = "uploads"
    __table_args__ = (Index("ix_uploads_user_status", "user_id", "status"),
                      Index("ix_uploads_status_created", "status", "created_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=lambda: uuid.uuid4().hex)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    declaration: Mapped[str] = mapped_column(String(32))  # own_face | subject_consented
    object_id: Mapped[str | None] = mapped_column(ForeignKey("stored_objects.id"), default=None)
    width: Mapped[int] = mapped_column()
    height: Mapped[int] = mapped_column()
    source_format: Mapped[str] = mapped_column(String(8))
    review_trace_id: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    rejection_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    # The generation job's public id; the job row may go first (retention), the upload row then stays.
    claimed_by: Mapped[str | None] = mapped_column(
        ForeignKey("generation_jobs.public_id", ondelete="SET NULL"), index=True, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    delete_reason: Mapped[str | None] = mapped_column(String(64), default=None)

    stored_object: Mapped[StoredObject | None] = relationship()
