"""Imports every domain's models so SQLAlchemy's metadata (and Alembic) sees all tables."""

from app.accounts.models import Device, LoginSession, RiskFlag, SmsCode, User, WechatIdentity
from app.ops.models import QueueProbe

__all__ = ["Device", "LoginSession", "QueueProbe", "RiskFlag", "SmsCode", "User", "WechatIdentity"]
