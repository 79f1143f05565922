"""Reads of orders for other domains (the staff console, support tickets): plain data, never the ORM rows.

``OrderStatus`` is exported here for the values other domains filter by (the staff API's query
schema). A page of ``OrderSummary`` costs one statement (``page_for_staff``; ``summaries``, for the
orders another domain links to by id); one ``OrderDetail`` three (the order, its events, its refunds).
The buyer is named by the account's internal id: the caller asks accounts for what it shows of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from app.core.errors import NotFound
from app.core.pagination import PageQuery, paginate
from app.extensions import db

from .models import Order, OrderStatus
from .products import PRODUCTS

__all__ = ["OrderDetail", "OrderEventLine", "OrderLine", "OrderNotFound", "OrderStatus", "OrderSummary", "RefundLine",
           "detail", "owner_of", "page_for_staff", "recent_of_user", "refundable_fen", "summaries", "window_ends"]


class OrderNotFound(NotFound):
    code, message = "order_not_found", "No such order."


@dataclass(frozen=True)
class OrderLine:
    """One line of a user's recent orders."""

    order_no: str
    product_name: str
    amount_fen: int
    status: str
    created_at: datetime


@dataclass(frozen=True)
class OrderSummary:
    order_no: str
    product_id: str
    amount_fen: int
    refunded_fen: int
    status: str
    created_at: datetime
    paid_at: datetime | None
    user_id: int | None  # None once the account was cancelled


@dataclass(frozen=True)
class OrderEventLine:
    from_status: str | None
    to_status: str
    cause: str
    at: datetime


@dataclass(frozen=True)
class RefundLine:
    refund_no: str
    amount_fen: int
    reason: str
    status: str
    created_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class OrderDetail:
    order_no: str
    product_id: str
    product_name: str
    subject_id: str | None
    amount_fen: int
    currency: str
    status: str
    payment_method: str
    transaction_id: str | None
    created_at: datetime
    paid_at: datetime | None
    fulfilled_at: datetime | None
    closed_at: datetime | None
    refunded_fen: int
    refundable_fen: int
    refund_window_ends_at: datetime | None
    user_id: int | None
    events: list[OrderEventLine]
    refunds: list[RefundLine]


def window_ends(order: Order) -> datetime | None:
    """The end of the window in which staff may refund the order (``REFUND_WINDOW_DAYS`` after payment)."""
    if order.paid_at is None:
        return None
    return order.paid_at + timedelta(days=current_app.config["REFUND_WINDOW_DAYS"])


def refundable_fen(order: Order) -> int:
    """What is left to refund: paid minus refunded minus refunds still on their way."""
    if order.paid_at is None:
        return 0
    in_flight = sum(r.amount_fen for r in order.refunds if r.status in ("requested", "processing"))
    return max(order.amount_fen - order.refunded_fen - in_flight, 0)


def owner_of(out_trade_no: str) -> int | None:
    """The user id of the order with this number (None: no such order, or its account is gone)."""
    return db.session.scalar(select(Order.user_id).where(Order.out_trade_no == out_trade_no))


def recent_of_user(user_id: int, limit: int = 20) -> list[OrderLine]:
    """The user's newest orders (one statement)."""
    rows = db.session.execute(
        select(Order.out_trade_no, Order.product_id, Order.amount_fen, Order.status, Order.created_at)
        .where(Order.user_id == user_id).order_by(Order.id.desc()).limit(limit)).all()
    return [OrderLine(order_no=no, product_name=PRODUCTS[product].name, amount_fen=amount, status=status,
                      created_at=created) for no, product, amount, status, created in rows]


def _summary(o: Order) -> OrderSummary:
    return OrderSummary(order_no=o.out_trade_no, product_id=o.product_id, amount_fen=o.amount_fen,
                        refunded_fen=o.refunded_fen, status=o.status, created_at=o.created_at, paid_at=o.paid_at,
                        user_id=o.user_id)


def summaries(order_ids: Iterable[int | None]) -> dict[int, OrderSummary]:
    """The orders among ``order_ids`` that exist (None ignored), by internal id; one statement (none if no ids)."""
    wanted = {i for i in order_ids if i is not None}
    if not wanted:
        return {}
    return {o.id: _summary(o) for o in db.session.scalars(select(Order).where(Order.id.in_(wanted)))}


def page_for_staff(status: str | None, since: datetime | None,
                   page: PageQuery) -> tuple[list[OrderSummary], str | None]:
    """Newest first, one page (see ``app.core.pagination``), filtered by status and creation time."""
    query = select(Order)
    if status:
        query = query.where(Order.status == status)
    if since:
        query = query.where(Order.created_at >= since)
    found, next_cursor = paginate(query, page, Order.id.desc())
    return [_summary(o) for o in found], next_cursor


def detail(out_trade_no: str) -> OrderDetail:
    """One order with its history and refunds (404 ``order_not_found``)."""
    order = db.session.scalar(select(Order).where(Order.out_trade_no == out_trade_no))
    if order is None:
        raise OrderNotFound()
    return OrderDetail(
        order_no=order.out_trade_no, product_id=order.product_id, product_name=PRODUCTS[order.product_id].name,
        subject_id=order.subject_id, amount_fen=order.amount_fen, currency=order.currency, status=order.status,
        payment_method=order.payment_method, transaction_id=order.transaction_id, created_at=order.created_at,
        paid_at=order.paid_at, fulfilled_at=order.fulfilled_at, closed_at=order.closed_at,
        refunded_fen=order.refunded_fen, refundable_fen=refundable_fen(order),
        refund_window_ends_at=window_ends(order), user_id=order.user_id,
        events=[OrderEventLine(from_status=e.from_status, to_status=e.to_status, cause=e.cause, at=e.created_at)
                for e in order.events],
        refunds=[RefundLine(refund_no=r.out_refund_no, amount_fen=r.amount_fen, reason=r.reason, status=r.status,
                            created_at=r.created_at, finished_at=r.finished_at) for r in order.refunds])
