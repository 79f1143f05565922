"""Support tickets (policy §2.2 customer service and disputes): a user's question, with its thread.

What is stored, and why:
- the subject and every message body are free text a user may fill with personal data (a phone number,
  an address, what went wrong with their photos), so they are sealed with ``app.core.crypto.seal_text``
  (AES-256-GCM; the purpose strings below bind each ciphertext to its column);
- the ticket may point at one of the user's orders (a payment dispute that finance can refund) or one
  of their generation jobs; those links are set NULL when the order or job is deleted by retention;
- those rows (and the user's) belong to other domains: the ticket holds their ids, never an ORM
  relationship, and support reads what it shows of them through their public code (``links.py``);
- the ticket belongs to its user: cancelling the account deletes it and its messages (ON DELETE CASCADE);
- closed tickets are deleted ``RETENTION["support_tickets"]`` days after ``closed_at`` (the retention sweep).
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import Sealed, UTCDateTime, utcnow
from app.extensions import db

SUBJECT_PURPOSE = "support.ticket_subject"
BODY_PURPOSE = "support.message_body"


def _public_id() -> str:
    return uuid.uuid4().hex


class TicketStatus(enum.StrEnum):
    OPEN = "open"  # waiting for staff
    WAITING_USER = "waiting_user"  # staff answered, waiting for the user
    RESOLVED = "resolved"  # staff consider it solved; the user may still reply (reopens it)
    CLOSED = "closed"  # final: no more messages; deleted after the retention period


class TicketCategory(enum.StrEnum):
    ORDER_DISPUTE = "order_dispute"
    GENERATION_QUALITY = "generation_quality"
    ACCOUNT = "account"
    PRIVACY = "privacy"
    OTHER = "other"


class AuthorKind(enum.StrEnum):
    USER = "user"
    STAFF = "staff"


def _in(column: str, values: type[enum.StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class Ticket(db.Model):
    __tablename__ = "support_tickets"
    __table_args__ = (
        Index("ix_support_tickets_user", "user_id", "id"),
        Index("ix_support_tickets_status", "status", "id"),
        Index("ix_support_tickets_closed_at", "closed_at"),
        CheckConstraint(_in("status", TicketStatus), name="status_known"),
        CheckConstraint(_in("category", TicketCategory), name="category_known"),
        # A closed ticket knows when it closed (retention counts from it); an open one does not.
        CheckConstraint("(status = 'closed') = (closed_at IS NOT NULL)", name="closed_at_iff_closed"),
        CheckConstraint("(status = 'resolved') = (resolved_at IS NOT NULL)", name="resolved_at_iff_resolved"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=_public_id)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(24))
    subject_ciphertext: Mapped[bytes] = mapped_column(Sealed())
    status: Mapped[str] = mapped_column(String(16), default=TicketStatus.OPEN)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"), index=True,
                                                 default=None)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("generation_jobs.id", ondelete="SET NULL"), index=True,
                                               default=None)
    # The staff member handling it (NULL again if the staff account is ever deleted).
    assigned_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id", ondelete="SET NULL"),
                                                          index=True, default=None)
    # Set by a staff reply, cleared when the user opens the thread: the list shows "new answer".
    has_unread_staff_reply: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)  # auto-close counts from it
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    messages: Mapped[list[TicketMessage]] = relationship(
        back_populates="ticket", order_by="TicketMessage.id", cascade="all, delete-orphan", passive_deletes=True)


class TicketMessage(db.Model):
    __tablename__ = "support_ticket_messages"
    __table_args__ = (
        Index("ix_support_ticket_messages_ticket", "ticket_id", "id"),
        CheckConstraint(_in("author_kind", AuthorKind), name="author_kind_known"),
        CheckConstraint("author_kind = 'staff' OR staff_id IS NULL", name="staff_id_only_for_staff"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("support_tickets.id", ondelete="CASCADE"))
    author_kind: Mapped[str] = mapped_column(String(8))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id", ondelete="SET NULL"),
                                                 default=None)  # who answered
    body_ciphertext: Mapped[bytes] = mapped_column(Sealed())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="messages")
