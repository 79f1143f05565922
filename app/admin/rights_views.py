"""Staff API: the privacy officer's queue of rights requests (§8: answered within 15 working days).

Requests made in the mini-program are executed at once; these are the ones that came by email,
phone or a support ticket and need a person to verify who is asking. The rules are in
``app.privacy.rights``; this module finds the records and writes the audit entries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint

from app.accounts.services import public_ids_of
from app.core import chinatime
from app.core.api import endpoint
from app.core.db import utcnow
from app.privacy import rights
from app.staff import audit
from app.staff.auth import STAFF_API_PREFIX, current_staff, staff_required
from app.staff.permissions import Permission
from app.support import queries as tickets

from . import users
from .orders import TicketNotFound, TicketOfAnotherBuyer
from .schemas import ReasonIn, RightsQueueOut, RightsQueueQuery, RightsRequestIn, RightsRequestOut

if TYPE_CHECKING:
    from app.accounts.queries import UserCard
    from app.privacy.models import DeletionRequest

bp = Blueprint("admin_rights", __name__, url_prefix=STAFF_API_PREFIX)
TAGS = ("staff",)


def request_out(request: DeletionRequest, public_ids: dict[int, str], now=None) -> RightsRequestOut:
    now = now or utcnow()
    return RightsRequestOut(
        id=request.public_id, user_id=public_ids.get(request.user_id) if request.user_id else None, kind=request.kind,
        categories=request.categories.split(","), channel=request.channel, ticket_id=request.ticket_ref,
        note=rights.note_of(request), status=request.status, rejected_reason=request.rejected_reason,
        created_at=request.created_at, due_at=request.due_at, due_date=chinatime.beijing_date(request.due_at),
        completed_at=request.completed_at,
        overdue=rights.is_overdue(request, now),
        days_left=rights.working_days_left(request, now) if request.status == "pending" else None)


def _public_ids(requests: list[DeletionRequest]) -> dict[int, str]:
    return public_ids_of(r.user_id for r in requests)


def one_out(request: DeletionRequest) -> RightsRequestOut:
    return request_out(request, _public_ids([request]))


def _check_ticket(ticket_id: str, user: UserCard) -> None:
    opener = tickets.opener_of(ticket_id)
    if opener is None:
        raise TicketNotFound()
    if opener != user.id:
        raise TicketOfAnotherBuyer("That ticket was not opened by this user.")


@bp.post("/rights-requests")
@staff_required(Permission.RIGHTS_PROCESS)
@endpoint("Queue a deletion or cancellation request received by email, phone or ticket", body=RightsRequestIn,
          response=RightsRequestOut, status=201, tags=TAGS, errors=[401, 403, 404, 409, 422, 503],
          description="due_at is 15 working days from now on China's calendar (Beijing dates, statutory holidays and "
                      "make-up workdays counted; calendar_out_of_range past the known years). "
                      "Errors: user_not_found, ticket_not_found, ticket_mismatch, rights_request_already_pending, "
                      "validation_error (categories for a cancellation, none for a deletion, a ticket channel "
                      "without ticket_id).")
def queue_request(body: RightsRequestIn):
    user = users.get_user(body.user_public_id)
    if body.ticket_id:
        _check_ticket(body.ticket_id, user)
    request = rights.queue_request(user, body.kind, list(body.categories), body.channel, note=body.note,
                                   ticket_ref=body.ticket_id, staff_id=current_staff().id)
    audit.record("rights.queue", "rights_request", request.public_id,
                 details={"user": user.public_id, "kind": request.kind, "categories": request.categories,
                          "channel": request.channel, "ticket_id": request.ticket_ref})
    return one_out(request)


@bp.get("/rights-requests")
@staff_required(Permission.RIGHTS_READ)
@endpoint("The rights-request queue, most urgent first, with overdue and working days left", query=RightsQueueQuery,
          response=RightsQueueOut, tags=TAGS, errors=[401, 403, 422])
def list_requests(query: RightsQueueQuery):
    now = utcnow()
    found, next_cursor = rights.queue(query.status, overdue_only=query.overdue, now=now, page=query)
    audit.record("rights.list", "rights_request", None,
                 details={"status": query.status, "overdue": query.overdue, "count": len(found)})
    public_ids = _public_ids(found)
    return RightsQueueOut(requests=[request_out(r, public_ids, now) for r in found], next_cursor=next_cursor)


@bp.post("/rights-requests/<public_id>/process")
@staff_required(Permission.RIGHTS_PROCESS)
@endpoint("Execute a pending request: delete the categories, or cancel the account", response=RightsRequestOut,
          tags=TAGS, errors=[401, 403, 404, 409],
          description="A deletion runs the same category deletion as the in-app path (with deletion receipts); "
                      "a cancellation runs the full account cancellation. Errors: rights_request_not_found, "
                      "rights_request_not_pending.")
def process_request(public_id: str):
    request = rights.find_request(public_id, for_update=True)
    user_public_id = _public_ids([request]).get(request.user_id)
    if request.status == "pending":  # a refused attempt is not an action: nothing to log
        audit.record("rights.process", "rights_request", request.public_id,
                     details={"user": user_public_id, "kind": request.kind, "categories": request.categories})
    done = rights.process_request(request, current_staff().id)  # staff_required commits, with the audit entry
    return one_out(done)


@bp.post("/rights-requests/<public_id>/reject")
@staff_required(Permission.RIGHTS_PROCESS)
@endpoint("Refuse a pending request, with the reason the person is told", body=ReasonIn, response=RightsRequestOut,
          tags=TAGS, errors=[401, 403, 404, 409, 422],
          description="Errors: rights_request_not_found, rights_request_not_pending.")
def reject_request(public_id: str, body: ReasonIn):
    request = rights.find_request(public_id, for_update=True)
    if request.status == "pending":
        audit.record("rights.reject", "rights_request", request.public_id, reason=body.reason,
                     details={"user": _public_ids([request]).get(request.user_id), "kind": request.kind})
    return one_out(rights.reject_request(request, current_staff().id, body.reason))
