"""Imports every domain's models so SQLAlchemy's metadata (and Alembic) sees all tables."""

from app.accounts.models import Device, LoginSession, RiskFlag, SmsCode, User, WechatIdentity
from app.consent.models import AgeDeclaration, ConsentRecord, GuardianConsent, PolicyVersion
from app.core.idempotency import IdempotencyKey
from app.core.objects import StoredObject
from app.generation.models import GenerationJob, GenerationResult
from app.notices.models import Notice, NoticeDelivery
from app.ops.models import QueueProbe
from app.orders.models import CreditUse, Entitlement, Order, OrderEvent, ProcessedNotification, Refund
from app.privacy.deletion_log import DeletionLogEntry
from app.privacy.export_models import DataExport
from app.privacy.models import DeletionReceipt, OperationLog
from app.staff.models import AuditEntry, StaffAccount, StaffSession
from app.support.models import Ticket, TicketMessage
from app.uploads.models import Upload

__all__ = [
    "AgeDeclaration",
    "AuditEntry",
    "ConsentRecord",
    "CreditUse",
    "DataExport",
    "DeletionLogEntry",
    "DeletionReceipt",
    "Device",
    "Entitlement",
    "GenerationJob",
    "GenerationResult",
    "GuardianConsent",
    "IdempotencyKey",
    "LoginSession",
    "Notice",
    "NoticeDelivery",
    "OperationLog",
    "Order",
    "OrderEvent",
    "PolicyVersion",
    "ProcessedNotification",
    "QueueProbe",
    "Refund",
    "RiskFlag",
    "SmsCode",
    "StaffAccount",
    "StaffSession",
    "StoredObject",
    "Ticket",
    "TicketMessage",
    "Upload",
    "User",
    "WechatIdentity",
]
