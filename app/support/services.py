"""The rules of support tickets: who may write what, when, and how a ticket's status moves.

Statuses (``TicketStatus``): ``open`` (staff's turn) → ``waiting_user`` (the user's turn) → ``resolved``
→ ``closed``. A user's reply to a ticket waiting for them or resolved brings it back to ``open``; a staff
reply makes it ``waiting_user``; either side may close it; ``closed`` is final (a new question is a new
ticket) and starts the retention clock. Resolved tickets nobody touches close by themselves after
``TICKET_AUTO_CLOSE_DAYS`` (done by the retention sweep, just before it deletes expired closed tickets).

Every change locks the ticket row first, so a user's reply and a staff member's close cannot interleave
into an impossible state; the check constraints on the table back this up.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from flask import current_app
from sqlalchemy import func, select, update

from app.accounts.services import check_text_is_safe, lock_user
from app.core import ratelimit
from app.core.crypto import open_text, seal_text
from app.core.db import utcnow
from app.core.errors import Conflict, NotFound, ValidationFailed
from app.core.pagination import PageQuery, paginate
from app.extensions import db
from app.generation import services as generation
from app.orders import services as orders
from app.staff.permissions import Permission, permissions_for
from app.staff.services import find_by_username

from .models import BODY_PURPOSE, SUBJECT_PURPOSE, AuthorKind, Ticket, TicketMessage, TicketStatus

if TYPE_CHECKING:
    from app.accounts.models import User
    from app.staff.models import StaffAccount

# Defaults for settings the deployment may override in the Flask config.

# Tickets that still need someone to act: what TICKET_MAX_OPEN_PER_USER counts.
ACTIVE_STATUSES = (TicketStatus.OPEN, TicketStatus.WAITING_USER)

TRANSITIONS: dict[str, frozenset[str]] = {
    TicketStatus.OPEN: frozenset({TicketStatus.WAITING_USER, TicketStatus.RESOLVED, TicketStatus.CLOSED}),
    TicketStatus.WAITING_USER: frozenset({TicketStatus.OPEN, TicketStatus.RESOLVED, TicketStatus.CLOSED}),
    TicketStatus.RESOLVED: frozenset({TicketStatus.OPEN, TicketStatus.WAITING_USER, TicketStatus.CLOSED}),
    TicketStatus.CLOSED: frozenset(),
}


class TicketNotFound(NotFound):
    code, message = "ticket_not_found", "No such ticket."


class TicketTransitionInvalid(Conflict):
    code, message = "ticket_transition_invalid", "The ticket cannot go to that status from its current one."


class TooManyOpenTickets(Conflict):
    code, message = "too_many_open_tickets", "You have too many unanswered tickets; wait for a reply or close one."


# --- reading ------------------------------------------------------------------------------------------

def subject_of(ticket: Ticket) -> str:
    return open_text(ticket.subject_ciphertext, SUBJECT_PURPOSE)


def body_of(message: TicketMessage) -> str:
    return open_text(message.body_ciphertext, BODY_PURPOSE)


def get_own(user: User, public_id: str) -> Ticket:
    """One of the user's tickets; another user's id answers exactly like a missing one."""
    ticket = db.session.scalar(select(Ticket).where(Ticket.public_id == public_id, Ticket.user_id == user.id))
    if ticket is None:
        raise TicketNotFound()
    return ticket


def active_counts() -> dict[str, int]:
    """How many tickets wait for staff (``open``) and for the user (``waiting_user``): the dashboard."""
    rows = db.session.execute(select(Ticket.status, func.count()).where(
        Ticket.status.in_((TicketStatus.OPEN, TicketStatus.WAITING_USER))).group_by(Ticket.status)).all()
    counts = {str(status): n for status, n in rows}
    return {"open": counts.get(TicketStatus.OPEN, 0), "waiting_user": counts.get(TicketStatus.WAITING_USER, 0)}


def get_any(public_id: str) -> Ticket:
    """For staff views (their permission is checked by ``staff_required``)."""
    ticket = db.session.scalar(select(Ticket).where(Ticket.public_id == public_id))
    if ticket is None:
        raise TicketNotFound()
    return ticket


def list_own(user: User, page: PageQuery) -> tuple[list[Ticket], str | None]:
    """Newest first, one page (see ``app.core.pagination``)."""
    return paginate(select(Ticket).where(Ticket.user_id == user.id), page, Ticket.id.desc())


def mark_read_by_user(ticket: Ticket) -> None:
    if ticket.has_unread_staff_reply:
        ticket.has_unread_staff_reply = False
        db.session.commit()


def list_for_staff(*, status: str | None = None, category: str | None = None, assigned_to: int | None = None,
                   unassigned: bool = False, page: PageQuery | None = None) -> tuple[list[Ticket], str | None]:
    """Newest first, one page (see ``app.core.pagination``)."""
    query = select(Ticket)
    if status:
        query = query.where(Ticket.status == status)
    if category:
        query = query.where(Ticket.category == category)
    if unassigned:
        query = query.where(Ticket.assigned_staff_id.is_(None))
    elif assigned_to is not None:
        query = query.where(Ticket.assigned_staff_id == assigned_to)
    return paginate(query, page or PageQuery(), Ticket.id.desc())


# --- status ---------------------------------------------------------------------------------------------

def transition(ticket: Ticket, to: str, now: datetime | None = None) -> None:
    """Move the ticket to ``to`` (409 ``ticket_transition_invalid`` if the table does not allow it)."""
    if to not in TRANSITIONS[ticket.status]:
        raise TicketTransitionInvalid(details={"from": ticket.status, "to": to,
                                               "allowed": sorted(TRANSITIONS[ticket.status])})
    now = now or utcnow()
    ticket.status = to
    ticket.updated_at = now
    ticket.resolved_at = now if to == TicketStatus.RESOLVED else None
    ticket.closed_at = now if to == TicketStatus.CLOSED else None


def _lock(ticket: Ticket) -> Ticket:
    """Re-read the ticket under a row lock (PostgreSQL), so the status checked is the status changed."""
    db.session.refresh(ticket, with_for_update=True)
    return ticket


def _append(ticket: Ticket, author: AuthorKind, body: str, staff_id: int | None, now: datetime) -> TicketMessage:
    message = TicketMessage(author_kind=author, staff_id=staff_id, body_ciphertext=seal_text(body, BODY_PURPOSE),
                            created_at=now)
    ticket.messages.append(message)
    ticket.updated_at = now
    return message


# --- the user's side ------------------------------------------------------------------------------------

def _limit_messages(user: User) -> None:
    spec = current_app.config["RATE_LIMIT_TICKET_MESSAGES"]
    ratelimit.enforce(ratelimit.Rule("support:messages:user", str(user.id), spec),
                      message="You are sending messages too fast; please wait a moment.")


def _check_open_limit(user: User) -> None:
    limit = current_app.config["TICKET_MAX_OPEN_PER_USER"]
    active = db.session.scalar(select(func.count()).select_from(Ticket).where(
        Ticket.user_id == user.id, Ticket.status.in_(ACTIVE_STATUSES))) or 0
    if active >= limit:
        raise TooManyOpenTickets(details={"max_open": limit})


def create_ticket(user: User, *, category: str, subject: str, body: str, order_no: str | None = None,
                  job_id: str | None = None) -> Ticket:
    """A new ticket with its first message, in one transaction (never a ticket without its question)."""
    _limit_messages(user)
    # The linked order or job must be the user's own: 404 order_not_found / job_not_found otherwise, the
    # same answer as for one that does not exist.
    order = orders.get_own(user, order_no) if order_no else None
    job = generation.get_own(user, job_id) if job_id else None
    _check_open_limit(user)
    check_text_is_safe(user, subject, field="subject")
    check_text_is_safe(user, body, field="body")
    # Serialise this user's ticket creations (PostgreSQL) so two at once cannot both pass the limit.
    lock_user(user.id)
    _check_open_limit(user)
    now = utcnow()
    ticket = Ticket(user_id=user.id, category=category, subject_ciphertext=seal_text(subject, SUBJECT_PURPOSE),
                    status=TicketStatus.OPEN, order_id=order.id if order else None, job_id=job.id if job else None,
                    created_at=now, updated_at=now)
    _append(ticket, AuthorKind.USER, body, None, now)
    db.session.add(ticket)
    db.session.commit()
    return ticket


def add_user_message(user: User, ticket: Ticket, body: str) -> TicketMessage:
    """The user writes again: a ticket waiting for them, or resolved, goes back to staff (``open``)."""
    if ticket.status == TicketStatus.CLOSED:
        raise TicketTransitionInvalid("This ticket is closed; open a new one.",
                                      details={"from": ticket.status, "to": TicketStatus.OPEN, "allowed": []})
    _limit_messages(user)
    check_text_is_safe(user, body, field="body")
    _lock(ticket)
    now = utcnow()
    if ticket.status != TicketStatus.OPEN:
        transition(ticket, TicketStatus.OPEN, now)  # closed meanwhile: refused here
    message = _append(ticket, AuthorKind.USER, body, None, now)
    db.session.commit()
    return message


def close_by_user(ticket: Ticket) -> Ticket:
    _lock(ticket)
    transition(ticket, TicketStatus.CLOSED)
    db.session.commit()
    return ticket


# --- the staff side (the caller records the audit entry and commits) --------------------------------------

def add_staff_reply(ticket: Ticket, staff_id: int, body: str) -> tuple[TicketMessage, str]:
    """A staff answer: the ticket waits for the user, who sees "new reply" in their list.

    Returns the message and the status the ticket had before."""
    _lock(ticket)
    before = ticket.status
    now = utcnow()
    if ticket.status != TicketStatus.WAITING_USER:
        transition(ticket, TicketStatus.WAITING_USER, now)
    ticket.has_unread_staff_reply = True
    return _append(ticket, AuthorKind.STAFF, body, staff_id, now), before


def set_status_by_staff(ticket: Ticket, status: str) -> str:
    """Returns the status before."""
    _lock(ticket)
    before = ticket.status
    transition(ticket, status)
    return before


class AssigneeInvalid(ValidationFailed):
    code, message = "assignee_invalid", "Tickets can only be assigned to an active staff account that may answer them."


def resolve_assignee(username: str | None) -> StaffAccount | None:
    """The account a ticket may be assigned to (None: unassign): active, and allowed to answer tickets."""
    if username is None:
        return None
    staff = find_by_username(username)
    if staff is None or staff.is_disabled or Permission.TICKETS_WRITE not in permissions_for(staff.role_list):
        raise AssigneeInvalid(details={"fields": [{"field": "username", "location": "body", "type": "assignee_invalid",
                                                   "message": "no active staff account with tickets.write"}]})
    return staff


def assign(ticket: Ticket, staff_id: int | None) -> int | None:
    """Returns the previous assignee's id."""
    _lock(ticket)
    before = ticket.assigned_staff_id
    ticket.assigned_staff_id = staff_id
    ticket.updated_at = utcnow()
    return before


# --- housekeeping -------------------------------------------------------------------------------------------

def auto_close_days() -> int:
    return current_app.config["TICKET_AUTO_CLOSE_DAYS"]


def close_stale_resolved_tickets(now: datetime | None = None, batch_size: int = 1000) -> int:
    """Close tickets resolved more than ``auto_close_days()`` ago, a batch per transaction; returns how many.

    Called by the retention sweep before it deletes expired closed tickets, so this closing starts their
    retention period. The update re-checks the condition, so a ticket the user reopened meanwhile stays open.
    """
    now = now or utcnow()
    cutoff = now - timedelta(days=auto_close_days())
    stale = (Ticket.status == TicketStatus.RESOLVED, Ticket.resolved_at <= cutoff)
    total = 0
    while True:
        ids = list(db.session.scalars(select(Ticket.id).where(*stale).order_by(Ticket.id).limit(batch_size)))
        if not ids:
            return total
        total += db.session.execute(
            update(Ticket).where(Ticket.id.in_(ids), *stale)
            .values(status=TicketStatus.CLOSED, closed_at=now, resolved_at=None, updated_at=now)
            .execution_options(synchronize_session=False)).rowcount or 0
        db.session.commit()
        if len(ids) < batch_size:
            return total
