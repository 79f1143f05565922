"""What the user reads for the privacy domain's ids: "what we hold" categories, deletion receipts' data kinds and
reasons, operation log entries, rights request statuses. English msgids, zh_CN in the catalog (tests/i18n fails
when one is missing).
"""

from __future__ import annotations

from app.core.i18n import _l

# GET /me/data categories (rights.holdings) and the categories a deletion request may name.
CATEGORY_LABELS = {
    "profile": _l("Profile"),
    "phone": _l("Phone number"),
    "wechat_identities": _l("WeChat identity"),
    "devices": _l("Devices"),
    "sessions": _l("Login sessions"),
    "consents": _l("Consent records"),
    "uploads": _l("Uploaded photos"),
    "jobs": _l("Generation jobs"),
    "results": _l("Generated results"),
    "avatar": _l("Digital avatar"),
    "orders": _l("Orders"),
    "operation_logs": _l("Operation log"),
    "deletion_receipts": _l("Deletion receipts"),
    "support_tickets": _l("Support tickets"),
    "notices": _l("Notices from us"),
    "account": _l("The whole account"),
}

# DeletionReceipt.data_kind
DATA_KIND_LABELS = {
    "portrait_upload": _l("Uploaded photo"),
    "result_image": _l("Generated result"),
    "result_original": _l("HD original"),
    "result_preview": _l("Preview"),
    "export_archive": _l("Data export archive"),
    "operation_logs": _l("Operation log"),
    "devices": _l("Device records"),
    "account": _l("Account"),
}

# DeletionReceipt.reason, by the part before ":" (``user_request:results`` reads as ``user_request``).
REASON_LABELS = {
    "job_succeeded": _l("Deleted as soon as generation finished"),
    "job_failed": _l("Deleted as soon as the job failed"),
    "job_cancelled": _l("Deleted as soon as the job was cancelled"),
    "job_timed_out": _l("Deleted as soon as the job timed out"),
    "user_request": _l("Deleted at your request"),
    "support_request": _l("Deleted at your request through customer service"),
    "account_cancelled": _l("Deleted when the account was cancelled"),
    "unclaimed_expired": _l("Not used by any job; deleted automatically when it expired"),
    "unclaimed": _l("Not used by any job; deleted automatically when it expired"),
    "content_check_risky": _l("Deleted: the photo did not pass the content check"),
    "content_check_review": _l("Deleted: the photo did not pass the content check"),
    "content_check_timeout": _l("Deleted: the content check did not answer in time"),
    "face_processing_consent_withdrawn": _l("Deleted when you withdrew consent to face processing"),
    "minor_without_guardian_consent": _l("Deleted: a minor's photo needs a guardian's consent"),
    "guardian_consent_withdrawn": _l("Deleted when the guardian withdrew consent"),
    "retention_expired": _l("Deleted at the end of its retention period"),
    "export_expired": _l("Deleted when the export link expired"),
    "service_shutdown": _l("Deleted because the service is shutting down"),
}

# OperationLog.action (GET /me/operations)
OPERATION_LABELS = {
    "generate": _l("Generated"),
    "download_preview": _l("Downloaded a preview"),
    "download_original": _l("Downloaded the HD original"),
    "share": _l("Shared"),
    "download_export": _l("Downloaded the data export"),
}

REQUEST_STATUS_LABELS = {
    "pending": _l("Pending"),
    "completed": _l("Completed"),
    "rejected": _l("Rejected"),
}


def _label(labels: dict, key: str | None) -> str:
    label = labels.get(key or "")
    return str(label) if label is not None else (key or "")


def category_label(name: str) -> str:
    return _label(CATEGORY_LABELS, name)


def data_kind_label(kind: str) -> str:
    return _label(DATA_KIND_LABELS, kind)


def reason_text(reason: str) -> str:
    head = (reason or "").split(":", 1)[0]
    return _label(REASON_LABELS, head) if head in REASON_LABELS else reason


def operation_label(action: str) -> str:
    return _label(OPERATION_LABELS, action)


def request_status_label(status: str) -> str:
    return _label(REQUEST_STATUS_LABELS, status)


def retention_class_label(name: str) -> str:
    """A retention class (``retention.CLASSES``, plus ``unclaimed_uploads``) in the current language."""
    from app.core.i18n import gettext

    from .retention import CLASSES

    if name == "unclaimed_uploads":
        return gettext("portrait uploads no job claimed")
    rule = CLASSES.get(name)
    return gettext(rule.what) if rule is not None else name
