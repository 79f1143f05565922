"""Imports every domain's models so SQLAlchemy's metadata (and Alembic) sees all tables."""

from app.accounts.models import Device, LoginSession, RiskFlag, SmsCode, User, WechatIdentity
from app.consent.models import AgeDeclaration, ConsentRecord, GuardianConsent, PolicyVersion
from app.core.objects import StoredObject
from app.ops.models import QueueProbe
from app.privacy.models import DeletionReceipt
from app.uploads.models import Upload

__all__ = [
    "AgeDeclaration", "ConsentRecord", "DeletionReceipt", "Device", "GuardianConsent", "LoginSession",
    "PolicyVersion", "QueueProbe", "RiskFlag", "SmsCode", "StoredObject", "Upload", "User", "WechatIdentity",
]
