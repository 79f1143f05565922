from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Sealed, UTCDateTime, utcnow
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
    """A rights request (§8): delete categories of data, or cancel the account; answered within 15 working days.

    Requests made in the mini-program are executed at once (``channel="miniprogram"``). Requests that
    arrive by email, phone or a support ticket need a person (identity checked, scope understood): they
    wait ``pending`` in the privacy officer's queue, sorted by ``due_at``, until processed or rejected.
    """

    __tablename__ = "deletion_requests"
    __table_args__ = (Index("ix_deletion_requests_user", "user_id", "id"),
                      Index("ix_deletion_requests_status_due", "status", "due_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16), default="deletion", server_default="deletion")  # | cancellation
    categories: Mapped[str] = mapped_column(String(200))  # comma-separated; "account" for a cancellation
    status: Mapped[str] = mapped_column(String(16))  # pending | completed | rejected
    channel: Mapped[str] = mapped_column(String(16))  # miniprogram | email | phone | ticket
    ticket_ref: Mapped[str | None] = mapped_column(String(32), default=None)  # the support ticket's public id
    # Free text typed by staff (how the identity was checked, what the person asked): may name people,
    # so it is sealed like every other personal field and only opened for the privacy officer.
    note_ciphertext: Mapped[bytes | None] = mapped_column(Sealed(), default=None)
    rejected_reason: Mapped[str | None] = mapped_column(String(200), default=None)
    # Who queued, then who answered it (the audit log has the full story; NULL if the account is deleted).
    handled_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id", ondelete="SET NULL"),
                                                            default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)  # answered: done or rejected
