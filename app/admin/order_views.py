"""Staff API: orders with their history and refunds; refunds on a buyer's behalf (finance)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint

from app.accounts.services import get_user, public_ids_of
from app.core.api import endpoint
from app.orders.products import PRODUCTS
from app.staff import audit
from app.staff.auth import STAFF_API_PREFIX, staff_required
from app.staff.masking import mask_text
from app.staff.permissions import Permission

from . import orders
from .schemas import (
    BuyerOut,
    OrderDetailOut,
    OrderEventOut,
    OrderListOut,
    OrderListQuery,
    OrderSummaryOut,
    RefundOut,
    StaffRefundIn,
)

if TYPE_CHECKING:
    from app.orders.models import Order

bp = Blueprint("admin_orders", __name__, url_prefix=STAFF_API_PREFIX)
TAGS = ("staff",)


def buyer_out(order: Order) -> BuyerOut | None:
    user = get_user(order.user_id) if order.user_id else None
    if user is None:
        return None
    return BuyerOut(id=user.public_id, phone=user.phone_masked, nickname=mask_text(user.nickname), status=user.status)


def detail_out(order: Order) -> OrderDetailOut:
    return OrderDetailOut(
        order_no=order.out_trade_no, product=order.product_id, item=PRODUCTS[order.product_id].name,
        subject=order.subject_id, amount_fen=order.amount_fen, currency=order.currency, status=order.status,
        payment_method=order.payment_method, transaction_id=order.transaction_id, created_at=order.created_at,
        paid_at=order.paid_at, fulfilled_at=order.fulfilled_at, closed_at=order.closed_at,
        refunded_fen=order.refunded_fen, refundable_fen=orders.refundable_fen(order),
        refund_window_ends_at=orders.refund_window_ends(order), buyer=buyer_out(order),
        events=[OrderEventOut(from_status=e.from_status, to_status=e.to_status, cause=e.cause, at=e.created_at)
                for e in order.events],
        refunds=[RefundOut(refund_no=r.out_refund_no, amount_fen=r.amount_fen, reason=r.reason, status=r.status,
                           created_at=r.created_at, finished_at=r.finished_at) for r in order.refunds])


@bp.get("/orders")
@staff_required(Permission.ORDERS_READ)
@endpoint("Orders, newest first (filter by status and creation time; paged)", query=OrderListQuery,
          response=OrderListOut, tags=TAGS, errors=[401, 403, 422])
def list_orders(query: OrderListQuery):
    found, next_cursor = orders.list_orders(query.status.value if query.status else None, query.since, query)
    buyers = public_ids_of(o.user_id for o in found)
    audit.record("order.list", "order", None, details={"status": query.status, "since": query.since,
                                                       "paged": query.cursor is not None, "count": len(found)})
    return OrderListOut(next_cursor=next_cursor, orders=[
        OrderSummaryOut(order_no=o.out_trade_no, product=o.product_id, amount_fen=o.amount_fen,
                        refunded_fen=o.refunded_fen, status=o.status, created_at=o.created_at, paid_at=o.paid_at,
                        buyer_id=buyers.get(o.user_id)) for o in found])


@bp.get("/orders/<out_trade_no>")
@staff_required(Permission.ORDERS_READ)
@endpoint("One order: its events, refunds (with their progress) and the buyer, masked", response=OrderDetailOut,
          tags=TAGS, errors=[401, 403, 404])
def order_detail(out_trade_no: str):
    order = orders.get_order(out_trade_no)
    buyer = buyer_out(order)
    audit.record("order.view", "order", order.out_trade_no, details={"buyer": buyer.id if buyer else None})
    return detail_out(order)


@bp.post("/orders/<out_trade_no>/refund")
@staff_required(Permission.ORDERS_REFUND)
@endpoint("Refund an order (all that is left, or amount_fen) through WeChat Pay", body=StaffRefundIn,
          response=OrderDetailOut, status=202, tags=TAGS, errors=[401, 403, 404, 409, 422],
          description="The refund is recorded and submitted to WeChat Pay by a job; its status moves "
                      "requested → processing → success (or closed) as WeChat answers. Errors: order_not_found, "
                      "order_not_paid, refund_window_passed, refund_exceeds_paid, invalid_order_state (a refund "
                      "is already on its way), ticket_not_found, ticket_mismatch.")
def refund_order(out_trade_no: str, body: StaffRefundIn):
    order = orders.get_order(out_trade_no, for_update=True)
    if body.ticket_id:
        orders.find_ticket(body.ticket_id, order)
    orders.check_refundable(order)
    audit.record("order.refund", "order", order.out_trade_no, reason=body.reason,
                 details={"amount_fen": body.amount_fen or orders.refundable_fen(order), "ticket_id": body.ticket_id})
    orders.refund(order, body.amount_fen, body.reason)  # commits, with the audit entry; the job submits it
    return detail_out(order)
