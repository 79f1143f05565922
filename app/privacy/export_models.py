"""A copy of a user's personal information (policy §8(5)): one row per requested export.

States: ``pending → running → ready → expired``, or ``failed`` (with a reason the user can read).
The database enforces what the code promises: a ``ready`` export always names its archive (an
encrypted ``export_archive`` object) and its expiry, and a ``failed`` one always says why.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import UTCDateTime, utcnow
from app.core.objects import StoredObject
from app.extensions import db


class ExportState(enum.StrEnum):
    PENDING = "pending"  # requested; the job is queued
    RUNNING = "running"  # a worker is building the archive
    READY = "ready"  # the encrypted archive exists and can be downloaded until expires_at
    EXPIRED = "expired"  # the archive was deleted (crypto-shredded) at expires_at
    FAILED = "failed"  # nothing was produced; failure_reason tells the user why


ALL_STATES = tuple(s.value for s in ExportState)
_STATE_LIST = ", ".join(f"'{s}'" for s in ALL_STATES)


class DataExport(db.Model):
    __tablename__ = "data_exports"
    __table_args__ = (
        Index("ix_data_exports_user", "user_id", "id"),
        Index("ix_data_exports_state_expires", "state", "expires_at"),
        CheckConstraint(f"state IN ({_STATE_LIST})", name="state_known"),
        # Success implies a file: a ready export names its archive and when it goes away.
        CheckConstraint("state <> 'ready' OR (object_id IS NOT NULL AND expires_at IS NOT NULL)",
                        name="ready_has_archive"),
        CheckConstraint("state <> 'failed' OR failure_reason IS NOT NULL", name="failed_has_reason"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=lambda: uuid.uuid4().hex)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default=ExportState.PENDING)
    rq_job_id: Mapped[str | None] = mapped_column(String(64), default=None)
    object_id: Mapped[str | None] = mapped_column(ForeignKey("stored_objects.id"), default=None)
    size: Mapped[int | None] = mapped_column(default=None)  # bytes of the ZIP
    failure_code: Mapped[str | None] = mapped_column(String(32), default=None)
    failure_reason: Mapped[str | None] = mapped_column(String(200), default=None)  # shown to the user
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    archive: Mapped[StoredObject | None] = relationship()
