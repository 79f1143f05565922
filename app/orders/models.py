"""Orders keep what §2.2 lists: item, amount, time, order number, status, payment method and status.

Every state change is an ``OrderEvent`` (time and cause). Uniqueness in the database makes
fulfilment exactly-once: one entitlement per order (``uq_entitlements_order_id``), one row per
WeChat transaction id, one processed-notification row per notification id.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import UTCDateTime, utcnow
from app.extensions import db


class OrderStatus(enum.StrEnum):
    CREATED = "created"
    PAID = "paid"
    FULFILLED = "fulfilled"
    CLOSED = "closed"
    REFUNDING = "refunding"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"


TRANSITIONS: dict[str, set[str]] = {
    OrderStatus.CREATED: {OrderStatus.PAID, OrderStatus.CLOSED},
    OrderStatus.PAID: {OrderStatus.FULFILLED, OrderStatus.REFUNDING},
    OrderStatus.FULFILLED: {OrderStatus.REFUNDING},
    OrderStatus.CLOSED: {OrderStatus.PAID},  # a payment that raced the close (then refunded at once)
    OrderStatus.REFUNDING: {OrderStatus.REFUNDED, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.FULFILLED,
                            OrderStatus.PAID},
    OrderStatus.PARTIALLY_REFUNDED: {OrderStatus.REFUNDING},
    OrderStatus.REFUNDED: set(),
}


class Order(db.Model):
    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_user", "user_id", "id"), Index("ix_orders_status", "status", "created_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    out_trade_no: Mapped[str] = mapped_column(String(32), unique=True)  # our order number, shown to the user
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    product_id: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str | None] = mapped_column(String(64), default=None)
    amount_fen: Mapped[int] = mapped_column()
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    status: Mapped[str] = mapped_column(String(24), default=OrderStatus.CREATED)
    payment_method: Mapped[str] = mapped_column(String(16), default="wechat_jsapi")
    payer_openid_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    prepay_id: Mapped[str | None] = mapped_column(String(64), default=None)
    prepay_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    transaction_id: Mapped[str | None] = mapped_column(String(32), unique=True, default=None)
    refunded_fen: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    fulfilled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    shipping_uploaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    events: Mapped[list[OrderEvent]] = relationship(order_by="OrderEvent.id")
    refunds: Mapped[list[Refund]] = relationship(order_by="Refund.id")


class OrderEvent(db.Model):
    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    cause: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Refund(db.Model):
    __tablename__ = "refunds"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    out_refund_no: Mapped[str] = mapped_column(String(64), unique=True)  # the idempotency key at WeChat
    amount_fen: Mapped[int] = mapped_column()
    reason: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(16), default="requested")  # requested|processing|success|closed|abnormal
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class Entitlement(db.Model):
    """What a paid order granted: an HD result, all HD results of a job, or credits."""

    __tablename__ = "entitlements"
    __table_args__ = (UniqueConstraint("order_id"), Index("ix_entitlements_user_kind", "user_id", "kind"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # hd_result | hd_job | credit
    subject_id: Mapped[str | None] = mapped_column(String(64), default=None)
    credit_kind: Mapped[str | None] = mapped_column(String(16), default=None)
    credits_total: Mapped[int] = mapped_column(default=0)
    credits_used: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class CreditUse(db.Model):
    """One credit spent on one generation job; returned (``returned_at``) if the job did not succeed."""

    __tablename__ = "credit_uses"
    __table_args__ = (UniqueConstraint("job_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entitlement_id: Mapped[int] = mapped_column(ForeignKey("entitlements.id", ondelete="CASCADE"))
    job_id: Mapped[int] = mapped_column(ForeignKey("generation_jobs.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class ProcessedNotification(db.Model):
    """A WeChat Pay notification id already applied: duplicates are acknowledged and ignored."""

    __tablename__ = "processed_notifications"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
