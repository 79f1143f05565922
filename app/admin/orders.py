"""Orders for finance staff: listing, one order's history, and refunds on the user's behalf.

A staff refund goes through the same path as every refund (``app.orders.services.request_refund``:
recorded, order moved to ``refunding``, what it granted revoked, the WeChat Pay call made by the
``submit_refund`` job after commit, settled by WeChat's refund notification). What only staff
refunds add is checked here: the order was paid, it is within ``REFUND_WINDOW_DAYS``, and the
support ticket it answers (if any) belongs to the same buyer.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from app.core.db import utcnow
from app.core.errors import Conflict, NotFound
from app.core.pagination import PageQuery, paginate
from app.extensions import db
from app.orders import services as order_services
from app.orders.models import Order, Refund
from app.support.models import Ticket

# OrderEvent.cause is 64 characters and the orders service stores "refund:<reason>" there.
REFUND_REASON_MAX = 48
STAFF_REASON_PREFIX = "staff: "


class OrderNotFound(NotFound):
    code, message = "order_not_found", "No such order."


class OrderNotPaid(Conflict):
    code, message = "order_not_paid", "This order was never paid: there is nothing to refund."


class RefundWindowPassed(Conflict):
    code, message = "refund_window_passed", "This order was paid longer ago than the refund window allows."


class TicketNotFound(NotFound):
    code, message = "ticket_not_found", "No such support ticket."


class TicketOfAnotherBuyer(Conflict):
    code, message = "ticket_mismatch", "That ticket was not opened by this order's buyer."


def list_orders(status: str | None, since: datetime | None, page: PageQuery) -> tuple[list[Order], str | None]:
    """Newest first, one page (see ``app.core.pagination``)."""
    query = select(Order)
    if status:
        query = query.where(Order.status == status)
    if since:
        query = query.where(Order.created_at >= since)
    return paginate(query, page, Order.id.desc())


def get_order(out_trade_no: str, *, for_update: bool = False) -> Order:
    query = select(Order).where(Order.out_trade_no == out_trade_no)
    order = db.session.scalar(query.with_for_update() if for_update else query)
    if order is None:
        raise OrderNotFound()
    return order


def refund_window_ends(order: Order) -> datetime | None:
    if order.paid_at is None:
        return None
    return order.paid_at + timedelta(days=current_app.config["REFUND_WINDOW_DAYS"])


def refundable_fen(order: Order) -> int:
    """What is left to refund: paid minus refunded minus refunds still on their way."""
    if order.paid_at is None:
        return 0
    in_flight = sum(r.amount_fen for r in order.refunds if r.status in ("requested", "processing"))
    return max(order.amount_fen - order.refunded_fen - in_flight, 0)


def find_ticket(ticket_id: str, order: Order) -> Ticket:
    ticket = db.session.scalar(select(Ticket).where(Ticket.public_id == ticket_id))
    if ticket is None:
        raise TicketNotFound()
    if order.user_id is None or ticket.user_id != order.user_id:
        raise TicketOfAnotherBuyer()
    return ticket


def check_refundable(order: Order, now: datetime | None = None) -> None:
    """Staff-side preconditions; the amount and the order's state are checked by the orders service."""
    ends = refund_window_ends(order)
    if ends is None:
        raise OrderNotPaid(details={"status": order.status})
    if (now or utcnow()) > ends:
        raise RefundWindowPassed(details={"paid_at": order.paid_at.isoformat(), "window_ends_at": ends.isoformat(),
                                          "window_days": current_app.config["REFUND_WINDOW_DAYS"]})


def refund(order: Order, amount_fen: int | None, reason: str) -> Refund:
    """Start the refund (commits, together with whatever the caller added to the session: its audit entry).

    Errors from the orders service pass through unchanged: ``refund_exceeds_paid`` (more than what is
    left), ``invalid_order_state`` (a refund already on its way).
    """
    check_refundable(order)
    return order_services.request_refund(order, amount_fen, f"{STAFF_REASON_PREFIX}{reason}"[:REFUND_REASON_MAX + 7])
