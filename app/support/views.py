"""Support tickets, the user's side (thin: parse, call ``services``, serialise).

Reachable without accepting the current privacy policy: someone who refuses it can still complain.
"""

from __future__ import annotations

from flask import Blueprint
from flask_login import current_user

from app.accounts.auth import login_required
from app.accounts.services import WECHAT_ERRORS
from app.core.api import API_PREFIX, endpoint
from app.core.pagination import InvalidCursor, PageQuery

from . import services
from .links import Links, links_of
from .models import Ticket
from .schemas import MessageIn, MessageOut, TicketIn, TicketListOut, TicketOut, TicketSummaryOut

bp = Blueprint("support", __name__, url_prefix=API_PREFIX)
TAGS = ("support",)


def summary_out(ticket: Ticket, links: Links) -> TicketSummaryOut:
    return TicketSummaryOut(
        id=ticket.public_id, category=ticket.category, subject=services.subject_of(ticket), status=ticket.status,
        order_no=links.order_no(ticket), job_id=links.job_id(ticket),
        has_unread_staff_reply=ticket.has_unread_staff_reply,
        created_at=ticket.created_at, updated_at=ticket.updated_at, closed_at=ticket.closed_at)


def ticket_out(ticket: Ticket) -> TicketOut:
    # Who on the staff answered is not shown to users: "客服" answered.
    messages = [MessageOut(author=m.author_kind, body=services.body_of(m), created_at=m.created_at)
                for m in ticket.messages]
    return TicketOut(**summary_out(ticket, links_of([ticket])).model_dump(), messages=messages)


@bp.post("/tickets")
@login_required
@endpoint("Ask customer service (optionally about one of my orders or jobs)", body=TicketIn, response=TicketOut,
          status=201, auth=True, tags=TAGS, idempotent=True,
          errors=[(404, "order_not_found"), (404, "job_not_found"), (409, "too_many_open_tickets"),
                  (422, "content_rejected"), 429, *WECHAT_ERRORS],
          description="Errors: order_not_found, job_not_found, too_many_open_tickets, content_rejected, "
                      "rate_limited, validation_error.")
def create_ticket(body: TicketIn):
    ticket = services.create_ticket(current_user, category=body.category, subject=body.subject, body=body.body,
                                    order_no=body.order_no, job_id=body.job_id)
    return ticket_out(ticket)


@bp.get("/tickets")
@login_required
@endpoint("My tickets, newest first (paged)", query=PageQuery, response=TicketListOut, auth=True, tags=TAGS,
          errors=[InvalidCursor])
def list_tickets(query: PageQuery):
    tickets, next_cursor = services.list_own(current_user, query)
    links = links_of(tickets)
    return TicketListOut(tickets=[summary_out(t, links) for t in tickets], next_cursor=next_cursor)


@bp.get("/tickets/<ticket_id>")
@login_required
@endpoint("One of my tickets with its messages (marks staff replies read)", response=TicketOut, auth=True,
          tags=TAGS, errors={404: ["ticket_not_found"]})
def get_ticket(ticket_id: str):
    ticket = services.get_own(current_user, ticket_id)
    out = ticket_out(ticket)
    services.mark_read_by_user(ticket)
    return out


@bp.post("/tickets/<ticket_id>/messages")
@login_required
@endpoint("Write in my ticket (a ticket waiting for me or resolved goes back to customer service)",
          body=MessageIn, response=MessageOut, status=201, auth=True, tags=TAGS, idempotent=True,
          errors=[(404, "ticket_not_found"), (409, "ticket_transition_invalid"), (409, "too_many_open_tickets"),
                  (422, "content_rejected"), 429, *WECHAT_ERRORS],
          description="Errors: ticket_not_found, ticket_transition_invalid (closed), content_rejected, rate_limited.")
def add_message(ticket_id: str, body: MessageIn):
    message = services.add_user_message(current_user, services.get_own(current_user, ticket_id), body.body)
    return MessageOut(author=message.author_kind, body=body.body, created_at=message.created_at)


@bp.post("/tickets/<ticket_id>/close")
@login_required
@endpoint("Close my ticket (final; it is deleted after the retention period)", response=TicketOut, auth=True,
          tags=TAGS, errors={404: ["ticket_not_found"], 409: ["ticket_transition_invalid"]})
def close_ticket(ticket_id: str):
    return ticket_out(services.close_by_user(services.get_own(current_user, ticket_id)))
