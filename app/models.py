"""Imports every domain's models so SQLAlchemy's metadata (and Alembic) sees all tables."""

from app.accounts.models import Device, LoginSession, RiskFlag, SmsCode, User, WechatIdentity
from app.consent.models import AgeDeclaration, ConsentRecord, GuardianConsent, PolicyVersion
from app.ops.models import QueueProbe

__all__ = [
    "AgeDeclaration", "ConsentRecord", "Device", "GuardianConsent", "LoginSession", "PolicyVersion", "QueueProbe",
    "RiskFlag", "SmsCode", "User", "WechatIdentity",
]
