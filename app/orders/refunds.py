"""Refunds started by staff (finance) on a buyer's behalf: what only they add to the refund rules.

A staff refund goes through the same path as every refund (``services.request_refund``: recorded,
order moved to ``refunding``, what it granted revoked, the WeChat Pay call made by the
``submit_refund`` job after commit, settled by WeChat's refund notification). What staff refunds add
is checked here: the order was paid, and it is within ``REFUND_WINDOW_DAYS`` of its payment. The
caller (the staff API) checks who asks and writes its audit entry in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import select

from app.core.db import utcnow
from app.core.errors import Conflict
from app.extensions import db

from . import services
from .models import Order
from .queries import OrderNotFound, refundable_fen, window_ends

# OrderEvent.cause is 64 characters and the orders service stores "refund:<reason>" there.
REFUND_REASON_MAX = 48
STAFF_REASON_PREFIX = "staff: "


class OrderNotPaid(Conflict):
    code, message = "order_not_paid", "This order was never paid: there is nothing to refund."


class RefundWindowPassed(Conflict):
    code, message = "refund_window_passed", "This order was paid longer ago than the refund window allows."


@dataclass(frozen=True)
class RefundTarget:
    """A locked order about to be refunded by staff."""

    order_no: str
    user_id: int | None  # the buyer (None once the account was cancelled)
    status: str
    paid_at: datetime | None
    refundable_fen: int
    window_ends_at: datetime | None


def _locked(out_trade_no: str) -> Order:
    order = db.session.scalar(select(Order).where(Order.out_trade_no == out_trade_no).with_for_update())
    if order is None:
        raise OrderNotFound()
    return order


def _target(order: Order) -> RefundTarget:
    return RefundTarget(order_no=order.out_trade_no, user_id=order.user_id, status=order.status,
                        paid_at=order.paid_at, refundable_fen=refundable_fen(order), window_ends_at=window_ends(order))


def lock(out_trade_no: str) -> RefundTarget:
    """Lock the order until the transaction ends (404 ``order_not_found``)."""
    order = _locked(out_trade_no)
    return _target(order)


def check(target: RefundTarget, now: datetime | None = None) -> None:
    """Staff-side preconditions; the amount and the order's state are checked by the orders service."""
    if target.window_ends_at is None:
        raise OrderNotPaid(details={"status": target.status})
    if (now or utcnow()) > target.window_ends_at:
        raise RefundWindowPassed(details={"paid_at": target.paid_at.isoformat(),
                                          "window_ends_at": target.window_ends_at.isoformat(),
                                          "window_days": current_app.config["REFUND_WINDOW_DAYS"]})


def start(out_trade_no: str, amount_fen: int | None, reason: str) -> None:
    """Start the refund (commits, together with whatever the caller added to the session: its audit entry).

    Errors from the orders service pass through unchanged: ``refund_exceeds_paid`` (more than what is
    left), ``invalid_order_state`` (a refund already on its way).
    """
    order = _locked(out_trade_no)
    check(_target(order))
    services.request_refund(order, amount_fen, f"{STAFF_REASON_PREFIX}{reason}"[:REFUND_REASON_MAX + 7])
