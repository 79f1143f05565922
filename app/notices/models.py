"""A notice (what staff wrote and whom it concerns) and its deliveries (who was told, through what, when).

A delivery belongs to its user: cancelling the account deletes it (``lifecycle.erase_user``, through the
lifecycle registry; ON DELETE CASCADE too). The notice keeps its counts, so what was announced stays
provable without the people.
Each channel column moves ``NULL → sending → <outcome>``; ``sending`` is committed *before* the call, so a
worker that dies mid-call leaves ``sending``, which the next run marks ``unknown`` instead of calling again.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import UTCDateTime, utcnow
from app.extensions import db


class NoticeKind(enum.StrEnum):
    INCIDENT = "incident"  # a personal-information security incident (PIPL art. 57)
    COMPANY_TRANSFER = "company_transfer"  # merger, split, transfer of the business (§6, PIPL art. 22)
    SHUTDOWN = "shutdown"  # the service stops (§7: announced in advance)
    SERVICE = "service"  # any other announcement the law or the policy requires


class Audience(enum.StrEnum):
    ALL = "all"
    DATA_CLASS = "data_class"  # whoever had data of ``data_class`` between window_start and window_end
    USERS = "users"  # a list of user ids


class DataClass(enum.StrEnum):
    UPLOADS = "uploads"
    RESULTS = "results"
    ORDERS = "orders"
    PHONE = "phone"


class NoticeStatus(enum.StrEnum):
    DRAFT = "draft"
    SENDING = "sending"
    SENT = "sent"


def _in(column: str, values: type[enum.StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class Notice(db.Model):
    __tablename__ = "notices"
    __table_args__ = (
        CheckConstraint(_in("kind", NoticeKind), name="kind_known"),
        CheckConstraint(_in("audience", Audience), name="audience_known"),
        CheckConstraint(_in("status", NoticeStatus), name="status_known"),
        CheckConstraint("audience != 'data_class' OR (data_class IS NOT NULL AND window_start IS NOT NULL "
                        "AND window_end IS NOT NULL)", name="data_class_has_window"),
        CheckConstraint("(status = 'draft') = (send_requested_at IS NULL)", name="sent_iff_requested"),
        CheckConstraint("(status = 'sent') = (finished_at IS NOT NULL)", name="finished_iff_sent"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=lambda: uuid.uuid4().hex)
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    audience: Mapped[str] = mapped_column(String(12))
    data_class: Mapped[str | None] = mapped_column(String(12), default=None)
    window_start: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    window_end: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    user_ids: Mapped[list | None] = mapped_column(JSON, default=None)  # public ids, for the "users" audience
    status: Mapped[str] = mapped_column(String(12), default=NoticeStatus.DRAFT)
    created_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id", ondelete="SET NULL"),
                                                            default=None)
    sent_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id", ondelete="SET NULL"),
                                                         default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    send_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    recipients_resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    rq_job_id: Mapped[str | None] = mapped_column(String(64), default=None)
    # Counts kept on the notice: they outlive the deliveries of people who later cancel their account.
    recipients: Mapped[int] = mapped_column(default=0)
    wechat_sent: Mapped[int] = mapped_column(default=0)
    sms_sent: Mapped[int] = mapped_column(default=0)

    deliveries: Mapped[list[NoticeDelivery]] = relationship(back_populates="notice", passive_deletes=True)


class NoticeDelivery(db.Model):
    __tablename__ = "notice_deliveries"
    __table_args__ = (
        UniqueConstraint("notice_id", "user_id"),  # nobody is told the same notice twice
        Index("ix_notice_deliveries_user", "user_id", "id"),
        Index("ix_notice_deliveries_pending", "notice_id", "done_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)  # in the app from then on
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # sent, not_subscribed, no_openid, no_template, failed, unknown (a crash mid-call); NULL: not tried yet
    wechat_status: Mapped[str | None] = mapped_column(String(16), default=None)
    wechat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # sent, not_needed (WeChat reached them), no_phone, unavailable, failed, unknown; NULL: not tried yet
    sms_status: Mapped[str | None] = mapped_column(String(16), default=None)
    sms_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    notice: Mapped[Notice] = relationship(back_populates="deliveries")
