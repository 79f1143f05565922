"""User rights (§8): what we hold, deleting categories, cancelling the account.

Cancellation removes the person: every session is revoked at once, queued and running jobs are
cancelled, uploads, results and exports are destroyed (files and data keys), and the user row is
deleted — which cascades to identities, devices, sessions, consents, logs. Orders and refunds stay,
as the law requires, pseudonymised: no user, no openid hash. Receipts stay without a user. The same
WeChat user logging in later gets a fresh account, because the WeChat identity is gone.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import delete, func, select, update

from app.accounts import phones, sessions, sms
from app.accounts.models import Device, LoginSession, SmsCode, User, WechatIdentity
from app.consent.models import ConsentRecord
from app.core import chinatime, events, objects
from app.core.crypto import open_text, seal_text
from app.core.db import utcnow
from app.core.errors import ApiError, Conflict, NotFound, ValidationFailed
from app.core.i18n import _l
from app.core.pagination import PageQuery, paginate
from app.extensions import db
from app.generation import services as generation
from app.generation.models import FINISHED, GenerationJob, GenerationResult
from app.orders.models import Order
from app.support.models import Ticket
from app.uploads import services as uploads
from app.uploads.models import Upload

from .models import DeletionReceipt, DeletionRequest, OperationLog
from .receipts import write_receipt

log = logging.getLogger(__name__)

CANCEL_SMS_PURPOSE = "cancel"
AUTOMATED_CATEGORIES = ("results", "avatar", "uploads", "operation_logs", "devices")


class ConfirmationRequired(ApiError):
    status, code, message = 403, "confirmation_required", "Confirm with the code sent to your phone."


# --- what we hold --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Category:
    name: str
    count: int
    retention: Any  # a lazy string: rendered in the reader's language (str() it)


def holdings(user: User) -> list[Category]:
    def count(model, *where) -> int:
        return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0

    uid = user.id
    live = LoginSession.revoked_at.is_(None)
    return [
        Category("profile", 1, _l("Until you cancel the account")),
        Category("phone", int(user.has_phone), _l("Until you cancel the account (encrypted; shown masked)")),
        Category("wechat_identities", count(WechatIdentity, WechatIdentity.user_id == uid),
                 _l("Until you cancel the account (openid encrypted)")),
        Category("devices", count(Device, Device.user_id == uid), _l("Until you cancel the account or delete them")),
        Category("sessions", count(LoginSession, LoginSession.user_id == uid, live),
                 _l("%(days)s days, or until revoked", days=current_app.config["SESSION_TTL_DAYS"])),
        Category("consents", count(ConsentRecord, ConsentRecord.user_id == uid), _l("The history of your choices")),
        Category("uploads", count(Upload, Upload.user_id == uid, Upload.deleted_at.is_(None)),
                 _l("Deleted when the job that used them ends, or after 30 minutes unused")),
        Category("jobs", count(GenerationJob, GenerationJob.user_id == uid), _l("90 days")),
        Category("results", count(GenerationResult, GenerationResult.user_id == uid,
                                  GenerationResult.deleted_at.is_(None)), _l("90 days")),
        Category("orders", count(Order, Order.user_id == uid),
                 _l("3 years (required by law), pseudonymised after cancellation")),
        Category("operation_logs", count(OperationLog, OperationLog.user_id == uid), _l("180 days")),
        Category("deletion_receipts", count(DeletionReceipt, DeletionReceipt.user_id == uid), _l("3 years")),
        Category("support_tickets", count(Ticket, Ticket.user_id == uid),
                 _l("%(days)s days after closing (encrypted)",
                    days=current_app.config["RETENTION"]["support_tickets"]["days"])),
    ]


# --- deleting categories -------------------------------------------------------------------------

def due_date(start=None):
    """15 working days (§8) on Beijing dates with China's holidays, due until the end of that day
    (past the calendar's known years: Monday to Friday, which can only be earlier, never a refusal)."""
    days = current_app.config["RIGHTS_RESPONSE_WORKING_DAYS"]
    return chinatime.add_working_days_at_the_latest(start or utcnow(), days)


def _check_categories(categories: list[str]) -> None:
    unknown = sorted(set(categories) - set(AUTOMATED_CATEGORIES))
    if unknown:
        raise ValidationFailed(details={"fields": [{"field": "categories", "location": "body", "type": "unknown",
                                                    "message": _l("Unknown categories: %(categories)s; to delete "
                                                                   "everything, cancel the account.",
                                                                   categories=", ".join(unknown))}]})


def request_deletion(user: User, categories: list[str], channel: str = "miniprogram") -> DeletionRequest:
    _check_categories(categories)
    from app.core.ratelimit import Rule, enforce  # per user and day, like exports (issue #15)

    enforce(Rule("deletion-requests:user", str(user.id), current_app.config["RATE_LIMIT_DELETION_REQUESTS"]),
            message="You have made many deletion requests today; please try again later.")
    now = utcnow()
    request = DeletionRequest(public_id=uuid.uuid4().hex, user_id=user.id, categories=",".join(sorted(set(categories))),
                              status="pending", channel=channel, created_at=now, due_at=due_date(now))
    db.session.add(request)
    for category in sorted(set(categories)):
        _delete_category(user, category)
    request.status, request.completed_at = "completed", utcnow()
    db.session.commit()
    return request


def _delete_category(user: User, category: str) -> None:
    reason = f"user_request:{category}"
    if category == "uploads":
        uploads.delete_all_of_user(user.id, reason)
    elif category in ("results", "avatar"):
        query = select(GenerationResult).where(GenerationResult.user_id == user.id,
                                               GenerationResult.deleted_at.is_(None))
        if category == "avatar":
            avatar_styles = [s.id for s in generation.catalogue() if s.kind == "avatar"]
            query = query.join(GenerationJob).where(GenerationJob.style_id.in_(avatar_styles))
        for result in db.session.scalars(query):
            destroy_result(result, reason)
    elif category == "operation_logs":
        db.session.execute(delete(OperationLog).where(OperationLog.user_id == user.id))
        write_receipt(user.id, "operation_logs", user.public_id, reason)
    elif category == "devices":
        db.session.execute(update(LoginSession).where(LoginSession.user_id == user.id).values(device_id=None))
        db.session.execute(delete(Device).where(Device.user_id == user.id))
        write_receipt(user.id, "devices", user.public_id, reason)


def destroy_result(result: GenerationResult, reason: str) -> None:
    for stored in (result.original, result.preview):
        if stored is not None and stored.destroyed_at is None:
            objects.destroy(stored)
    result.deleted_at = result.deleted_at or utcnow()
    write_receipt(result.user_id, "result_image", result.public_id, reason)


def list_requests(user: User, page: PageQuery) -> tuple[list[DeletionRequest], str | None]:
    """Newest first, one page (see ``app.core.pagination``)."""
    return paginate(select(DeletionRequest).where(DeletionRequest.user_id == user.id), page,
                    DeletionRequest.id.desc())


# --- cancellation ---------------------------------------------------------------------------------

def send_cancellation_code(user: User) -> int:
    phone = _phone_of(user)
    phone_key = phones.phone_hash(phone)
    from app.accounts import risk

    risk.limit_sms_send(phone_key, None)
    code, ttl = sms.issue_code(phone_key, CANCEL_SMS_PURPOSE)
    db.session.commit()
    sms.deliver(phone, code, ttl)
    return ttl


def _phone_of(user: User) -> str:
    if user.phone_ciphertext is None:
        raise ConfirmationRequired("Bind a phone number first, or ask customer service to cancel the account.",
                                   code="phone_binding_required")
    return phones.open_phone(user.phone_ciphertext)


def confirm_and_cancel(user: User, code: str) -> None:
    phone_key = phones.phone_hash(_phone_of(user))
    from app.accounts import risk

    risk.limit_sms_verify(phone_key)
    sms.verify_code(phone_key, CANCEL_SMS_PURPOSE, code)
    cancel_account(user, reason="user_request")


def cancel_account(user: User, reason: str) -> None:
    """Everything at once, in one transaction (support calls this too, with its own reason)."""
    user_id, public_id = user.id, user.public_id
    sessions.revoke_all(user_id, sessions.RevokeReason.USER_REVOKED)
    for job in db.session.scalars(select(GenerationJob).where(GenerationJob.user_id == user_id,
                                                              GenerationJob.status.not_in(FINISHED))):
        generation.cancel(job, commit=False)
    uploads.delete_all_of_user(user_id, f"account_cancelled:{reason}")
    for result in db.session.scalars(select(GenerationResult).where(GenerationResult.user_id == user_id,
                                                                    GenerationResult.deleted_at.is_(None))):
        destroy_result(result, f"account_cancelled:{reason}")
    events.account_cancelled.send(current_app._get_current_object(), user_id=user_id)
    # Kept by law, without a link to the person.
    db.session.execute(update(Order).where(Order.user_id == user_id).values(user_id=None, payer_openid_hash=None))
    if user.phone_hash:
        db.session.execute(delete(SmsCode).where(SmsCode.phone_hash == user.phone_hash))
    write_receipt(None, "account", public_id, f"account_cancelled:{reason}")
    db.session.flush()
    db.session.execute(update(DeletionReceipt).where(DeletionReceipt.user_id == user_id).values(user_id=None))
    # The database cascades: identities, devices, sessions, consents, uploads, jobs, results, logs.
    db.session.execute(delete(User).where(User.id == user_id))
    db.session.commit()
    db.session.expunge_all()
    log.info("account cancelled", extra={"reason": reason})


# --- the privacy officer's queue: requests that need a person ----------------------------------------
#
# A request by email, phone or support ticket cannot be executed blindly: someone checks that the
# sender is the account holder and what exactly is asked. It waits ``pending`` with the same legal
# deadline as any other request; processing it runs the very code the in-app path runs.

QUEUE_CHANNELS = ("email", "phone", "ticket")
REQUEST_KINDS = ("deletion", "cancellation")
NOTE_PURPOSE = "rights.note"
CANCELLATION_CATEGORIES = "account"


class RightsRequestNotFound(NotFound):
    code, message = "rights_request_not_found", "No such rights request."


class RightsRequestNotPending(Conflict):
    code, message = "rights_request_not_pending", "This request was already answered."


class RightsRequestAlreadyQueued(Conflict):
    code, message = "rights_request_already_pending", "The same request for this user is already waiting."


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(details={"fields": [{"field": field, "location": "body", "type": "invalid",
                                                 "message": message}]})


def queue_request(user: User, kind: str, categories: list[str], channel: str, *, note: str | None,
                  ticket_ref: str | None, staff_id: int) -> DeletionRequest:
    """Record a request received outside the mini-program; the caller commits (with its audit entry)."""
    if kind not in REQUEST_KINDS:
        raise _invalid("kind", _l("One of: %(values)s", values=", ".join(REQUEST_KINDS)))
    if channel not in QUEUE_CHANNELS:
        raise _invalid("channel", _l("One of: %(values)s", values=", ".join(QUEUE_CHANNELS)))
    if channel == "ticket" and not ticket_ref:
        raise _invalid("ticket_id", "a request received through a support ticket names that ticket")
    if kind == "deletion":
        if not categories:
            raise _invalid("categories", "which categories to delete (or queue a cancellation)")
        _check_categories(categories)
        stored = ",".join(sorted(set(categories)))
    else:
        if categories:
            raise _invalid("categories", "a cancellation deletes everything; leave categories empty")
        stored = CANCELLATION_CATEGORIES
    duplicate = db.session.scalar(select(DeletionRequest.id).where(
        DeletionRequest.user_id == user.id, DeletionRequest.kind == kind, DeletionRequest.status == "pending",
        DeletionRequest.categories == stored))
    if duplicate is not None:
        raise RightsRequestAlreadyQueued()
    now = utcnow()
    request = DeletionRequest(public_id=uuid.uuid4().hex, user_id=user.id, kind=kind, categories=stored,
                              status="pending", channel=channel, ticket_ref=ticket_ref,
                              note_ciphertext=seal_text(note, NOTE_PURPOSE) if note else None,
                              handled_by_staff_id=staff_id, created_at=now, due_at=due_date(now))
    db.session.add(request)
    db.session.flush()
    return request


def note_of(request: DeletionRequest) -> str | None:
    return open_text(request.note_ciphertext, NOTE_PURPOSE) if request.note_ciphertext else None


def find_request(public_id: str, *, for_update: bool = False) -> DeletionRequest:
    query = select(DeletionRequest).where(DeletionRequest.public_id == public_id)
    request = db.session.scalar(query.with_for_update() if for_update else query)
    if request is None:
        raise RightsRequestNotFound()
    return request


def queue(status: str | None = "pending", *, overdue_only: bool = False, now: datetime | None = None,
          page: PageQuery | None = None) -> tuple[list[DeletionRequest], str | None]:
    """Requests by due date, the most urgent first, one page; ``overdue_only`` keeps pending ones past due."""
    query = select(DeletionRequest)
    if status:
        query = query.where(DeletionRequest.status == status)
    if overdue_only:
        query = query.where(DeletionRequest.status == "pending", DeletionRequest.due_at < (now or utcnow()))
    return paginate(query, page or PageQuery(), DeletionRequest.due_at, DeletionRequest.id)


def is_overdue(request: DeletionRequest, now: datetime | None = None) -> bool:
    return request.status == "pending" and request.due_at < (now or utcnow())


def working_days_left(request: DeletionRequest, now: datetime | None = None) -> int:
    """Working days from today to the due date (0 on the due day); negative once overdue (Beijing dates)."""
    try:
        return chinatime.working_days_between(chinatime.beijing_date(now or utcnow()),
                                              chinatime.beijing_date(request.due_at))
    except chinatime.CalendarOutOfRange:  # next year's calendar unknown: plain days, the safe side
        return (chinatime.beijing_date(request.due_at) - chinatime.beijing_date(now or utcnow())).days


def queue_counts(now: datetime | None = None) -> dict[str, int]:
    now = now or utcnow()
    pending = DeletionRequest.status == "pending"
    count = func.count(DeletionRequest.id)
    return {"pending": db.session.scalar(select(count).where(pending)) or 0,
            "overdue": db.session.scalar(select(count).where(pending, DeletionRequest.due_at < now)) or 0}


def process_request(request: DeletionRequest, staff_id: int) -> DeletionRequest:
    """Execute a pending request the way the automated path would, and commit (with the caller's audit entry).

    A cancellation deletes the user row and empties the session (``cancel_account``): the request is
    read again afterwards. A request whose account was cancelled meanwhile has nothing left to
    delete (cancellation destroyed everything, with receipts): it is completed as such.
    """
    if request.status != "pending":
        raise RightsRequestNotPending(details={"status": request.status})
    request_id = request.id
    user = db.session.get(User, request.user_id) if request.user_id else None
    request.status, request.completed_at, request.handled_by_staff_id = "completed", utcnow(), staff_id
    if user is not None and request.kind == "cancellation":
        cancel_account(user, reason="support_request")  # commits, and expunges everything
    else:
        if user is not None:
            for category in request.categories.split(","):
                _delete_category(user, category)
        db.session.commit()
    return db.session.get(DeletionRequest, request_id)


def reject_request(request: DeletionRequest, staff_id: int, reason: str) -> DeletionRequest:
    """Answer no (identity not verified, not the holder's data, …): the reason is what the person is told."""
    if request.status != "pending":
        raise RightsRequestNotPending(details={"status": request.status})
    request.status, request.rejected_reason = "rejected", reason[:200]
    request.completed_at, request.handled_by_staff_id = utcnow(), staff_id
    db.session.commit()
    return request
