"""Policy versions and append-only consent history: the current state is derived, never stored.

Rows of ``consent_records``, ``age_declarations`` and ``guardian_consents`` are never updated or
deleted by any endpoint (a withdrawal is a new record; a guardian withdrawal stamps
``withdrawn_at`` once). Account deletion pseudonymises them (privacy rights issue).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import UTCDateTime, utcnow
from app.extensions import db


class PolicyVersion(db.Model):
    __tablename__ = "policy_versions"
    __table_args__ = (UniqueConstraint("sequence"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # e.g. "2024-07-04"
    sequence: Mapped[int] = mapped_column()  # publication order; later versions have higher numbers
    title: Mapped[str] = mapped_column(String(200))
    effective_at: Mapped[datetime] = mapped_column(UTCDateTime())
    published_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    major: Mapped[bool] = mapped_column(default=False)
    summary: Mapped[str] = mapped_column(Text, default="")
    text_md: Mapped[str] = mapped_column(Text)


class ConsentRecord(db.Model):
    __tablename__ = "consent_records"
    __table_args__ = (Index("ix_consent_records_user_purpose", "user_id", "purpose", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(16))  # given | withdrawn
    policy_version_id: Mapped[str] = mapped_column(ForeignKey("policy_versions.id"))
    channel: Mapped[str] = mapped_column(String(16))  # miniprogram | support
    client_info: Mapped[dict] = mapped_column(JSON, default=dict)
    guardian_consent_id: Mapped[int | None] = mapped_column(ForeignKey("guardian_consents.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    policy_version: Mapped[PolicyVersion] = relationship()


class AgeDeclaration(db.Model):
    __tablename__ = "age_declarations"
    __table_args__ = (Index("ix_age_declarations_user", "user_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    birth_year: Mapped[int | None] = mapped_column(default=None)
    adult_confirmed: Mapped[bool] = mapped_column(default=False)  # "I am 14 or older"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class GuardianConsent(db.Model):
    """A guardian, identified by a verified phone, consenting for a user under 14 (§9)."""

    __tablename__ = "guardian_consents"
    __table_args__ = (Index("ix_guardian_consents_user", "user_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    guardian_phone_hash: Mapped[str] = mapped_column(String(64))
    guardian_phone_masked: Mapped[str] = mapped_column(String(20))
    relation: Mapped[str] = mapped_column(String(16))
    purposes: Mapped[list] = mapped_column(JSON)
    policy_version_id: Mapped[str] = mapped_column(ForeignKey("policy_versions.id"))
    given_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
