"""Staff accounts, their server-side sessions, and the append-only audit log.

What is stored, and why:
- passwords only as argon2id hashes; the TOTP secret sealed (AES-GCM, ``app.core.crypto``), since
  whoever reads it can mint second factors;
- session tokens only as SHA-256 (the cookie holds the token; the CSRF token is an HMAC of it, so
  nothing more needs storing);
- audit entries carry a snapshot of who did it (username and roles at the time), so an entry keeps
  its meaning after the account changes; ``staff_id`` is only a convenience link and is left out of
  the hash so that ``ON DELETE SET NULL`` cannot break the chain.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import Sealed, UTCDateTime, utcnow
from app.extensions import db
from app.staff.permissions import split_roles


class StaffAccount(db.Model):
    __tablename__ = "staff_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(32), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    roles: Mapped[str] = mapped_column(String(200), default="")  # comma-separated Role values
    totp_secret_ciphertext: Mapped[bytes | None] = mapped_column(Sealed(), default=None)
    totp_pending_ciphertext: Mapped[bytes | None] = mapped_column(Sealed(), default=None)
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # The last TOTP time step accepted: a code is never accepted twice (replay).
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, default=None)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    @property
    def role_list(self) -> list[str]:
        return split_roles(self.roles)

    @property
    def totp_enabled(self) -> bool:
        return self.totp_secret_ciphertext is not None

    @property
    def is_disabled(self) -> bool:
        return self.disabled_at is not None


class StaffSession(db.Model):
    __tablename__ = "staff_sessions"
    __table_args__ = (Index("ix_staff_sessions_staff_active", "staff_id", "revoked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())  # the absolute maximum age
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    revoked_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    ip: Mapped[str | None] = mapped_column(String(64), default=None)

    staff: Mapped[StaffAccount] = relationship()


class AuditEntry(db.Model):
    """One line of the audit log. Append-only: no code path updates or deletes a row (see below).

    ``id`` is assigned by ``audit.record`` as the previous id + 1 under a lock, so ids are gap-free
    and a removed row shows up as a gap as well as a broken link.
    """

    __tablename__ = "staff_audit_log"
    __table_args__ = (
        Index("ix_staff_audit_log_target", "target_type", "target_id"),
        Index("ix_staff_audit_log_staff_username", "staff_username"),
        Index("ix_staff_audit_log_action", "action"),
        Index("ix_staff_audit_log_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id", ondelete="SET NULL"),
                                                 default=None)
    staff_username: Mapped[str] = mapped_column(String(64))
    roles: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(128), default=None)
    reason: Mapped[str | None] = mapped_column(String(500), default=None)
    request_id: Mapped[str | None] = mapped_column(String(64), default=None)
    ip: Mapped[str | None] = mapped_column(String(64), default=None)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditLogIsAppendOnly(RuntimeError):
    """Raised when ORM code tries to change or delete an audit entry."""


@event.listens_for(AuditEntry, "before_update")
def _refuse_update(mapper, connection, target) -> None:
    raise AuditLogIsAppendOnly(f"audit entry {target.id} cannot be changed")


@event.listens_for(AuditEntry, "before_delete")
def _refuse_delete(mapper, connection, target) -> None:
    raise AuditLogIsAppendOnly(f"audit entry {target.id} cannot be deleted")


class AccessReview(db.Model):
    """A periodic access review (policy §7): who reviewed the staff accounts, when, and what changed.

    ``accounts`` is a snapshot of what the reviewer saw (username, roles, disabled, last use), so the
    record keeps its meaning after the accounts change; the reviewer's username is copied for the same
    reason (``reviewer_id`` is only a link).
    """

    __tablename__ = "staff_access_reviews"
    __table_args__ = (Index("ix_staff_access_reviews_reviewed_at", "reviewed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id", ondelete="SET NULL"),
                                                    default=None)
    reviewer_username: Mapped[str] = mapped_column(String(64))
    reviewed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    changes: Mapped[str] = mapped_column(String(2000))  # what the review changed, or "no changes"
    accounts: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
