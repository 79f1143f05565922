"""Staff API: orders with their history and refunds; refunds on a buyer's behalf (finance)."""

from __future__ import annotations

from flask import Blueprint

from app.accounts import queries as accounts
from app.accounts.services import public_ids_of
from app.core.api import endpoint
from app.orders import queries as orders
from app.orders import refunds
from app.staff import audit
from app.staff.auth import STAFF_API_PREFIX, staff_required
from app.staff.masking import mask_text
from app.staff.permissions import Permission

from .orders import check_ticket
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

bp = Blueprint("admin_orders", __name__, url_prefix=STAFF_API_PREFIX)
TAGS = ("staff",)


def buyer_out(user_id: int | None) -> BuyerOut | None:
    user = accounts.card(user_id)
    if user is None:
        return None
    return BuyerOut(id=user.public_id, phone=user.phone_masked, nickname=mask_text(user.nickname), status=user.status)


def detail_out(order: orders.OrderDetail, buyer: BuyerOut | None) -> OrderDetailOut:
    return OrderDetailOut(
        order_no=order.order_no, product=order.product_id, item=order.product_name, subject=order.subject_id,
        amount_fen=order.amount_fen, currency=order.currency, status=order.status,
        payment_method=order.payment_method, transaction_id=order.transaction_id, created_at=order.created_at,
        paid_at=order.paid_at, fulfilled_at=order.fulfilled_at, closed_at=order.closed_at,
        refunded_fen=order.refunded_fen, refundable_fen=order.refundable_fen,
        refund_window_ends_at=order.refund_window_ends_at, buyer=buyer,
        events=[OrderEventOut(from_status=e.from_status, to_status=e.to_status, cause=e.cause, at=e.at)
                for e in order.events],
        refunds=[RefundOut(refund_no=r.refund_no, amount_fen=r.amount_fen, reason=r.reason, status=r.status,
                           created_at=r.created_at, finished_at=r.finished_at) for r in order.refunds])


@bp.get("/orders")
@staff_required(Permission.ORDERS_READ)
@endpoint("Orders, newest first (filter by status and creation time; paged)", query=OrderListQuery,
          response=OrderListOut, tags=TAGS, errors=[401, 403, 422])
def list_orders(query: OrderListQuery):
    found, next_cursor = orders.page_for_staff(query.status.value if query.status else None, query.since, query)
    buyers = public_ids_of(o.user_id for o in found)
    audit.record("order.list", "order", None, details={"status": query.status, "since": query.since,
                                                       "paged": query.cursor is not None, "count": len(found)})
    return OrderListOut(next_cursor=next_cursor, orders=[
        OrderSummaryOut(order_no=o.order_no, product=o.product_id, amount_fen=o.amount_fen,
                        refunded_fen=o.refunded_fen, status=o.status, created_at=o.created_at, paid_at=o.paid_at,
                        buyer_id=buyers.get(o.user_id)) for o in found])


@bp.get("/orders/<out_trade_no>")
@staff_required(Permission.ORDERS_READ)
@endpoint("One order: its events, refunds (with their progress) and the buyer, masked", response=OrderDetailOut,
          tags=TAGS, errors=[401, 403, 404])
def order_detail(out_trade_no: str):
    order = orders.detail(out_trade_no)
    buyer = buyer_out(order.user_id)
    audit.record("order.view", "order", order.order_no, details={"buyer": buyer.id if buyer else None})
    return detail_out(order, buyer)


@bp.post("/orders/<out_trade_no>/refund")
@staff_required(Permission.ORDERS_REFUND)
@endpoint("Refund an order (all that is left, or amount_fen) through WeChat Pay", body=StaffRefundIn,
          response=OrderDetailOut, status=202, tags=TAGS, errors=[401, 403, 404, 409, 422],
          description="The refund is recorded and submitted to WeChat Pay by a job; its status moves "
                      "requested → processing → success (or closed) as WeChat answers. Errors: order_not_found, "
                      "order_not_paid, refund_window_passed, refund_exceeds_paid, invalid_order_state (a refund "
                      "is already on its way), ticket_not_found, ticket_mismatch.")
def refund_order(out_trade_no: str, body: StaffRefundIn):
    target = refunds.lock(out_trade_no)
    if body.ticket_id:
        check_ticket(body.ticket_id, target.user_id)
    refunds.check(target)
    audit.record("order.refund", "order", target.order_no, reason=body.reason,
                 details={"amount_fen": body.amount_fen or target.refundable_fen, "ticket_id": body.ticket_id})
    refunds.start(out_trade_no, body.amount_fen, body.reason)  # commits, with the audit entry; the job submits it
    order = orders.detail(out_trade_no)
    return detail_out(order, buyer_out(order.user_id))
