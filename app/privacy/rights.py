"""User rights (§8): what we hold, deleting categories, cancelling the account.

Everything here goes through the lifecycle registry (app.core.lifecycle): each domain says what it holds,
which categories a user may delete, and erases its own data. Cancellation removes the person: every
session is revoked at once, queued and running jobs are cancelled, uploads, results and exports are
destroyed (files and data keys), and the user row is deleted — which cascades to identities, devices,
sessions, consents, logs. Orders and refunds stay, as the law requires, pseudonymised: no user, no
openid hash, no prepay id. Receipts stay without a user. The same WeChat user logging in later gets a
fresh account, because the WeChat identity is gone.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from flask import current_app
from sqlalchemy import func, select

from app.accounts import phones, sms
from app.core import chinatime, events, lifecycle
from app.core.crypto import open_text, seal_text
from app.core.db import utcnow
from app.core.errors import ApiError, Conflict, NotFound, ValidationFailed
from app.core.i18n import _l
from app.core.lifecycle import Holding
from app.core.pagination import PageQuery, paginate
from app.extensions import db

from .models import DeletionRequest

log = logging.getLogger(__name__)

CANCEL_SMS_PURPOSE = "cancel"


class ConfirmationRequired(ApiError):
    status, code, message = 403, "confirmation_required", "Confirm with the code sent to your phone."


# --- what we hold --------------------------------------------------------------------------------

Category = Holding  # the name the views and tests know


def holdings(user) -> list[Holding]:
    """Every domain's rows of "what we hold", through the lifecycle registry."""
    return lifecycle.holdings(user.id)


# --- deleting categories -------------------------------------------------------------------------

def due_date(start=None):
    """15 working days (§8) on Beijing dates with China's holidays, due until the end of that day
    (past the calendar's known years: Monday to Friday, which can only be earlier, never a refusal)."""
    days = current_app.config["RIGHTS_RESPONSE_WORKING_DAYS"]
    return chinatime.add_working_days_at_the_latest(start or utcnow(), days)


def categories() -> dict:
    """The categories a user may delete on their own: each domain names its own (``Lifecycle.categories``)."""
    return {name: delete for lc in lifecycle.registered() for name, delete in lc.categories.items()}


def _check_categories(categories_asked: list[str]) -> None:
    unknown = sorted(set(categories_asked) - set(categories()))
    if unknown:
        raise ValidationFailed(details={"fields": [{"field": "categories", "location": "body", "type": "unknown",
                                                    "message": _l("Unknown categories: %(categories)s; to delete "
                                                                   "everything, cancel the account.",
                                                                   categories=", ".join(unknown))}]})


def request_deletion(user, categories: list[str], channel: str = "miniprogram") -> DeletionRequest:
    """Delete the categories at once and record the request; the request boundary commits."""
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
    db.session.flush()
    return request


def _delete_category(user, category: str) -> None:
    categories()[category](user.id, f"user_request:{category}")


def list_requests(user, page: PageQuery) -> tuple[list[DeletionRequest], str | None]:
    """Newest first, one page (see ``app.core.pagination``)."""
    return paginate(select(DeletionRequest).where(DeletionRequest.user_id == user.id), page,
                    DeletionRequest.id.desc())


# --- cancellation ---------------------------------------------------------------------------------

def send_cancellation_code(user) -> int:
    phone = _phone_of(user)
    phone_key = phones.phone_hash(phone)
    from app.accounts import risk

    risk.limit_sms_send(phone_key, None)
    code, ttl = sms.issue_code(phone_key, CANCEL_SMS_PURPOSE)
    db.session.commit()  # the code is stored before the SMS goes out (a message for a lost row is useless)
    sms.deliver(phone, code, ttl)
    return ttl


def _phone_of(user) -> str:
    if user.phone_ciphertext is None:
        raise ConfirmationRequired("Bind a phone number first, or ask customer service to cancel the account.",
                                   code="phone_binding_required")
    return phones.open_phone(user.phone_ciphertext)


def confirm_and_cancel(user, code: str) -> None:
    phone_key = phones.phone_hash(_phone_of(user))
    from app.accounts import risk

    risk.limit_sms_verify(phone_key)
    sms.verify_code(phone_key, CANCEL_SMS_PURPOSE, code)
    cancel_account(user, reason="user_request")


def cancel_account(user, reason: str) -> None:
    """Everything at once, in one transaction (support calls this too, with its own reason): every domain
    erases its part through the lifecycle registry, the account row last.

    Commits itself, unlike other services: the account is gone, so the session is emptied (every object
    of the user's would be stale) and the caller starts over from ids."""
    user_id = user.id
    events.account_cancelled.send(current_app._get_current_object(), user_id=user_id)
    lifecycle.erase(user_id, reason)
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


def queue_request(user, kind: str, categories: list[str], channel: str, *, note: str | None,
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
    """Execute a pending request the way the automated path would; the staff boundary commits (with the audit entry).

    A cancellation deletes the user row and empties the session (``cancel_account``): the request is
    read again afterwards. A request whose account was cancelled meanwhile has nothing left to
    delete (cancellation destroyed everything, with receipts): it is completed as such.
    """
    if request.status != "pending":
        raise RightsRequestNotPending(details={"status": request.status})
    request_id = request.id
    from app.accounts.services import get_user

    user = get_user(request.user_id) if request.user_id else None
    request.status, request.completed_at, request.handled_by_staff_id = "completed", utcnow(), staff_id
    if user is not None and request.kind == "cancellation":
        cancel_account(user, reason="support_request")  # commits, and expunges everything
    elif user is not None:
        for category in request.categories.split(","):
            _delete_category(user, category)
    return db.session.get(DeletionRequest, request_id)


def reject_request(request: DeletionRequest, staff_id: int, reason: str) -> DeletionRequest:
    """Answer no (identity not verified, not the holder's data, …): the reason is what the person is told."""
    if request.status != "pending":
        raise RightsRequestNotPending(details={"status": request.status})
    request.status, request.rejected_reason = "rejected", reason[:200]
    request.completed_at, request.handled_by_staff_id = utcnow(), staff_id
    return request
