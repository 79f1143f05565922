"""Support tickets, the staff side (``/admin/api/tickets``).

The list is for triage and shows no personal data in clear: the subject and the user's phone are
masked, no message bodies; each list read is audit-logged (``ticket.list``: the filters and the tickets
shown). Opening a ticket shows the thread and is audit-logged (``ticket.view``), as
is every change (``ticket.reply``, ``ticket.status``, ``ticket.assign``); each entry is written in the
same transaction as the change it records. A linked order is shown with its number, amount and status,
so finance can refund it through the orders admin API.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Blueprint
from sqlalchemy import func, select

from app.core.api import endpoint
from app.core.pagination import InvalidCursor
from app.extensions import db
from app.staff import audit
from app.staff.auth import STAFF_API_PREFIX, current_staff, staff_required
from app.staff.manage import get_staff
from app.staff.masking import mask_text
from app.staff.permissions import Permission

from . import services
from .links import Links, links_of
from .models import Ticket, TicketMessage
from .schemas import (
    StaffAssignIn,
    StaffJobOut,
    StaffMessageOut,
    StaffOrderOut,
    StaffReplyIn,
    StaffStatusIn,
    StaffTicketListOut,
    StaffTicketOut,
    StaffTicketQuery,
    StaffTicketSummaryOut,
    StaffUserOut,
)

bp = Blueprint("admin_tickets", __name__, url_prefix=STAFF_API_PREFIX)
TAGS = ("staff",)
ERRORS = [401, 403, 404]


def _usernames(ids: Iterable[int | None]) -> dict[int, str]:
    from app.staff.services import usernames_of

    return usernames_of(ids)


def _message_counts(tickets: list[Ticket]) -> dict[int, int]:
    if not tickets:
        return {}
    return dict(db.session.execute(
        select(TicketMessage.ticket_id, func.count()).where(TicketMessage.ticket_id.in_([t.id for t in tickets]))
        .group_by(TicketMessage.ticket_id)).tuples().all())


def summary_out(ticket: Ticket, subject: str, names: dict[int, str], message_count: int,
                links: Links) -> StaffTicketSummaryOut:
    user, order, job = links.user(ticket), links.order(ticket), links.job(ticket)
    return StaffTicketSummaryOut(
        id=ticket.public_id, category=ticket.category, subject=subject, status=ticket.status,
        user=StaffUserOut(id=user.public_id, phone=user.phone_masked),
        order=StaffOrderOut(order_no=order.order_no, product=order.product_id, amount_fen=order.amount_fen,
                            refunded_fen=order.refunded_fen, status=order.status) if order else None,
        job=StaffJobOut(id=job.public_id, style=job.style_id, status=job.status) if job else None,
        assigned_to=names.get(ticket.assigned_staff_id) if ticket.assigned_staff_id else None,
        message_count=message_count, created_at=ticket.created_at, updated_at=ticket.updated_at,
        resolved_at=ticket.resolved_at, closed_at=ticket.closed_at)


def ticket_out(ticket: Ticket) -> StaffTicketOut:
    names = _usernames([ticket.assigned_staff_id, *(m.staff_id for m in ticket.messages)])
    messages = [StaffMessageOut(author=m.author_kind, staff=names.get(m.staff_id) if m.staff_id else None,
                                body=services.body_of(m), created_at=m.created_at) for m in ticket.messages]
    summary = summary_out(ticket, services.subject_of(ticket), names, len(messages), links_of([ticket], users=True))
    return StaffTicketOut(**summary.model_dump(), messages=messages)


@bp.get("/tickets")
@staff_required(Permission.TICKETS_READ)
@endpoint("Tickets, newest first (masked: no message bodies; audit-logged: ticket.list)", query=StaffTicketQuery,
          response=StaffTicketListOut, tags=TAGS, errors=[*ERRORS, InvalidCursor],
          description="assigned: me | none | <username>; paged (next_cursor). Errors: staff_not_found.")
def list_tickets(query: StaffTicketQuery):
    assigned_to, unassigned = None, False
    if query.assigned == "me":
        assigned_to = current_staff().id
    elif query.assigned == "none":
        unassigned = True
    elif query.assigned:
        assigned_to = get_staff(query.assigned).id  # 404 staff_not_found
    tickets, next_cursor = services.list_for_staff(status=query.status, category=query.category,
                                                   assigned_to=assigned_to, unassigned=unassigned, page=query)
    names = _usernames(t.assigned_staff_id for t in tickets)
    counts = _message_counts(tickets)
    links = links_of(tickets, users=True)
    out = [summary_out(t, mask_text(services.subject_of(t)) or "", names, counts.get(t.id, 0), links)
           for t in tickets]
    # The list shows who wrote (masked phone, user id) and about which order: a read of personal data too.
    audit.record("ticket.list", "ticket", None,
                 details={"status": query.status, "category": query.category, "assigned": query.assigned,
                          "cursor": query.cursor, "count": len(tickets), "tickets": [t.public_id for t in tickets]})
    return StaffTicketListOut(tickets=out, next_cursor=next_cursor)


@bp.get("/tickets/<ticket_id>")
@staff_required(Permission.TICKETS_READ)
@endpoint("One ticket with its thread (audit-logged: ticket.view)", response=StaffTicketOut, tags=TAGS,
          errors=ERRORS)
def get_ticket(ticket_id: str):
    ticket = services.get_any(ticket_id)
    audit.record("ticket.view", "ticket", ticket.public_id,
                 details={"category": ticket.category, "status": ticket.status})
    return ticket_out(ticket)


@bp.post("/tickets/<ticket_id>/messages")
@staff_required(Permission.TICKETS_WRITE)
@endpoint("Answer the user (the ticket then waits for them; audit-logged: ticket.reply)", body=StaffReplyIn,
          response=StaffTicketOut, status=201, tags=TAGS, errors=[*ERRORS, 409, 422],
          description="Errors: ticket_not_found, ticket_transition_invalid (closed).")
def reply(ticket_id: str, body: StaffReplyIn):
    ticket = services.get_any(ticket_id)
    _, before = services.add_staff_reply(ticket, current_staff().id, body.body)
    audit.record("ticket.reply", "ticket", ticket.public_id, details={"from": before, "to": ticket.status})
    db.session.commit()
    return ticket_out(ticket)


@bp.post("/tickets/<ticket_id>/status")
@staff_required(Permission.TICKETS_WRITE)
@endpoint("Move the ticket to another status (audit-logged: ticket.status, the note as its reason)",
          body=StaffStatusIn, response=StaffTicketOut, tags=TAGS, errors=[*ERRORS, 409, 422],
          description="Errors: ticket_not_found, ticket_transition_invalid.")
def set_status(ticket_id: str, body: StaffStatusIn):
    ticket = services.get_any(ticket_id)
    before = services.set_status_by_staff(ticket, body.status)
    audit.record("ticket.status", "ticket", ticket.public_id, reason=body.note,
                 details={"from": before, "to": ticket.status})
    db.session.commit()
    return ticket_out(ticket)


@bp.post("/tickets/<ticket_id>/assign")
@staff_required(Permission.TICKETS_WRITE)
@endpoint("Assign the ticket to a staff member who may answer it, or unassign it (audit-logged: ticket.assign)",
          body=StaffAssignIn, response=StaffTicketOut, tags=TAGS, errors=[*ERRORS, 422],
          description="Errors: ticket_not_found, assignee_invalid.")
def assign(ticket_id: str, body: StaffAssignIn):
    ticket = services.get_any(ticket_id)
    assignee = services.resolve_assignee(body.username)
    before = services.assign(ticket, assignee.id if assignee else None)
    names = _usernames([before])
    audit.record("ticket.assign", "ticket", ticket.public_id,
                 details={"from": names.get(before) if before else None, "to": assignee.username if assignee else None})
    db.session.commit()
    return ticket_out(ticket)
