from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import UTCDateTime, utcnow
from app.extensions import db


class DeletionReceipt(db.Model):
    """Proof that something was deleted: what kind, which id, when, why — never the content."""

    __tablename__ = "deletion_receipts"
    __table_args__ = (Index("ix_deletion_receipts_user", "user_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    data_kind: Mapped[str] = mapped_column(String(32))  # portrait_upload, result_image, avatar, …
    subject_id: Mapped[str] = mapped_column(String(64))  # the public id of what was deleted
    reason: Mapped[str] = mapped_column(String(64))
    deleted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OperationLog(db.Model):
    """What the user did with their results: generated, downloaded, shared, and when (policy §2.1)."""

    __tablename__ = "operation_logs"
    __table_args__ = (Index("ix_operation_logs_user", "user_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(32))  # generate, download_preview, download_original, share
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DeletionRequest(db.Model):
    """A user's request to delete categories of data (§8(2)), answered within 15 working days."""

    __tablename__ = "deletion_requests"
    __table_args__ = (Index("ix_deletion_requests_user", "user_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    categories: Mapped[str] = mapped_column(String(200))  # comma-separated
    status: Mapped[str] = mapped_column(String(16))  # pending | completed
    channel: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
