"""Accounts: users, their WeChat identities, devices, login sessions, SMS codes and risk flags.

What is stored, and why (policy §2.1, §4, §7):
- phone numbers, WeChat openids and session keys are encrypted (``*_ciphertext``) and found through
  keyed hashes (``*_hash``); only the masked phone (``138****1234``) is kept readable for display;
- login tokens and SMS codes are never stored, only their hashes;
- a device is its hashed client id plus model / OS / app version (what risk control needs).
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import Sealed, TimestampMixin, UTCDateTime, utcnow
from app.extensions import db


def new_public_id() -> str:
    return uuid.uuid4().hex


class UserStatus(enum.StrEnum):
    ACTIVE = "active"
    BLOCKED = "blocked"  # refused at login and on every request; support can lift it


class User(UserMixin, TimestampMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # What the API shows: sequential ids would tell anyone how many users we have.
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    status: Mapped[str] = mapped_column(String(16), default=UserStatus.ACTIVE)
    blocked_reason: Mapped[str | None] = mapped_column(String(200), default=None)
    nickname: Mapped[str | None] = mapped_column(String(64), default=None)
    avatar_url: Mapped[str | None] = mapped_column(String(512), default=None)
    phone_ciphertext: Mapped[bytes | None] = mapped_column(Sealed(), default=None)
    phone_hash: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    phone_masked: Mapped[str | None] = mapped_column(String(20), default=None)
    phone_bound_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    wechat_identities: Mapped[list[WechatIdentity]] = relationship(back_populates="user")

    @property
    def has_phone(self) -> bool:
        return self.phone_hash is not None

    @property
    def is_active(self) -> bool:  # flask-login: blocked users are not logged in
        return self.status == UserStatus.ACTIVE


class WechatIdentity(TimestampMixin, db.Model):
    """One (mini-program appid, openid) pair that logs in as a user."""

    __tablename__ = "wechat_identities"
    __table_args__ = (UniqueConstraint("appid", "openid_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    appid: Mapped[str] = mapped_column(String(32))
    openid_hash: Mapped[str] = mapped_column(String(64))
    openid_ciphertext: Mapped[bytes] = mapped_column(Sealed())  # needed to send subscribe messages
    unionid_hash: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    session_key_ciphertext: Mapped[bytes | None] = mapped_column(Sealed(), default=None)

    user: Mapped[User] = relationship(back_populates="wechat_identities")


class Device(db.Model):
    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("user_id", "device_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    device_hash: Mapped[str] = mapped_column(String(64), index=True)
    model: Mapped[str | None] = mapped_column(String(64), default=None)
    os: Mapped[str | None] = mapped_column(String(64), default=None)
    app_version: Mapped[str | None] = mapped_column(String(32), default=None)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LoginMethod(enum.StrEnum):
    WECHAT = "wechat"
    SMS = "sms"


class LoginSession(db.Model):
    """A bearer token's server side. The token itself is never stored, only its SHA-256."""

    __tablename__ = "login_sessions"
    __table_args__ = (Index("ix_login_sessions_user_active", "user_id", "revoked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    method: Mapped[str] = mapped_column(String(16))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="SET NULL"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    revoked_reason: Mapped[str | None] = mapped_column(String(32), default=None)

    user: Mapped[User] = relationship()
    device: Mapped[Device | None] = relationship()


class SmsCode(db.Model):
    """A one-time SMS code: stored as a keyed hash, single use, expiring, with limited attempts."""

    __tablename__ = "sms_codes"
    __table_args__ = (Index("ix_sms_codes_phone_purpose", "phone_hash", "purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    phone_hash: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(16))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    failed_attempts: Mapped[int] = mapped_column(default=0)


class RiskFlag(db.Model):
    """Something risk control noticed (e.g. many accounts on one device), for staff to review."""

    __tablename__ = "risk_flags"
    __table_args__ = (UniqueConstraint("kind", "subject_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    subject_hash: Mapped[str] = mapped_column(String(64))
    account_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
