"""Orders API and WeChat Pay's notification endpoints."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import Blueprint, Response, current_app, jsonify, request
from flask_login import current_user
from pydantic import BaseModel, Field

from app.accounts.auth import login_required, phone_required
from app.core import events
from app.core.api import API_PREFIX, endpoint
from app.core.db import utcnow
from app.core.errors import Conflict
from app.core.pagination import InvalidCursor, PageOut, PageQuery
from app.extensions import db

from . import entitlements, notifications, services, wechatpay
from .labels import order_status_text, product_name
from .models import Order
from .products import PRODUCTS

bp = Blueprint("orders", __name__, url_prefix=API_PREFIX)
payments_bp = Blueprint("payments", __name__, url_prefix=f"{API_PREFIX}/payments/wechat")
TAGS = ("orders",)
log = logging.getLogger(__name__)


class ProductOut(BaseModel):
    id: str
    name: str = Field(description="In the request's language (zh-CN by default)")
    price_fen: int
    subject: str | None


class ProductsOut(BaseModel):
    products: list[ProductOut]


class OrderIn(BaseModel):
    product: str = Field(max_length=32)
    subject: str | None = Field(default=None, max_length=64, description="The result or job the product is for")


class OrderOut(BaseModel):
    order_no: str
    product: str
    item: str
    subject: str | None
    amount_fen: int
    currency: str
    status: str
    status_text: str = Field(description="The status in the request's language (zh-CN by default)")
    payment_method: str
    payment_status: str
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None
    refunded_fen: int


class PaymentParams(BaseModel):
    appId: str  # noqa: N815 - wx.requestPayment's own names
    timeStamp: str  # noqa: N815
    nonceStr: str  # noqa: N815
    package: str
    signType: str  # noqa: N815
    paySign: str  # noqa: N815


class OrderWithPaymentOut(BaseModel):
    order: OrderOut
    payment: PaymentParams


class OrdersOut(PageOut):
    orders: list[OrderOut]
    credits: dict[str, int]


class RefundIn(BaseModel):
    reason: str = Field(min_length=1, max_length=80)


PAYMENT_STATUS = {"created": "unpaid", "closed": "closed", "paid": "paid", "fulfilled": "paid",
                  "refunding": "refunding", "refunded": "refunded", "partially_refunded": "partially_refunded"}


def order_out(order: Order) -> OrderOut:
    return OrderOut(order_no=order.out_trade_no, product=order.product_id, item=product_name(order.product_id),
                    subject=order.subject_id, amount_fen=order.amount_fen, currency=order.currency,
                    status=order.status, status_text=order_status_text(order.status),
                    payment_method=order.payment_method,
                    payment_status=PAYMENT_STATUS[order.status], created_at=order.created_at,
                    expires_at=order.expires_at, paid_at=order.paid_at, refunded_fen=order.refunded_fen)


@bp.get("/products")
@endpoint("What can be bought, and the price (fen)", response=ProductsOut, tags=TAGS)
def list_products():
    return ProductsOut(products=[ProductOut(id=p.id, name=product_name(p.id), price_fen=p.price_fen, subject=p.subject)
                                 for p in PRODUCTS.values()])


@bp.post("/orders")
@phone_required
@endpoint("Create an order and get wx.requestPayment parameters", body=OrderIn, response=OrderWithPaymentOut,
          status=201, auth=True, tags=TAGS, idempotent=True,
          errors=[services.InvalidOrder, (422, "unknown_product"), (422, "wechat_login_required"),
                  (404, "result_not_found"), (404, "job_not_found"), (409, "order_not_payable"),
                  (409, "order_expired"), (409, "already_entitled"), services.PaymentUnavailable],
          description="The price is the server's. Errors: unknown_product, result_not_found, job_not_found, "
                      "already_entitled (409: the user already owns that HD download), wechat_login_required, "
                      "payment_unavailable.")
def create_order(body: OrderIn):
    order, payment = services.create_order(current_user, body.product, body.subject)
    return OrderWithPaymentOut(order=order_out(order), payment=PaymentParams(**payment))


@bp.get("/orders")
@login_required
@endpoint("My orders, newest first (paged), and remaining credits", query=PageQuery, response=OrdersOut, auth=True,
          tags=TAGS, errors=[InvalidCursor])
def list_orders(query: PageQuery):
    orders, next_cursor = services.list_own(current_user, query)
    return OrdersOut(orders=[order_out(o) for o in orders], credits=entitlements.credits_left(current_user.id),
                     next_cursor=next_cursor)


@bp.get("/orders/<order_no>")
@login_required
@endpoint("One of my orders", response=OrderOut, auth=True, tags=TAGS, errors={404: ["order_not_found"]})
def get_order(order_no: str):
    return order_out(services.get_own(current_user, order_no))


@bp.post("/orders/<order_no>/pay")
@phone_required
@endpoint("Payment parameters again for an unpaid order (reuses or renews the prepay_id)",
          response=OrderWithPaymentOut, auth=True, tags=TAGS,
          errors=[(404, "order_not_found"), (409, "order_not_payable"), (409, "order_expired"),
                  (422, "wechat_login_required"), services.PaymentUnavailable])
def pay_again(order_no: str):
    order = services.get_own(current_user, order_no)
    payment = services.prepay(order)
    return OrderWithPaymentOut(order=order_out(order), payment=PaymentParams(**payment))


@bp.post("/orders/<order_no>/sync")
@login_required
@endpoint("Ask WeChat Pay for this order's state now (after wx.requestPayment says success)",
          response=OrderOut, auth=True, tags=TAGS,
          errors=[(404, "order_not_found"), (409, "invalid_order_state"), services.PaymentUnavailable])
def sync_order(order_no: str):
    order = services.get_own(current_user, order_no)
    try:
        return order_out(services.query_and_apply(order))
    except (wechatpay.PayUnavailable, wechatpay.PayError) as exc:
        raise services.PaymentUnavailable() from exc


@bp.post("/orders/<order_no>/cancel")
@login_required
@endpoint("Cancel an unpaid order (closed at WeChat Pay too)", response=OrderOut, auth=True, tags=TAGS,
          errors=[(404, "order_not_found"), (409, "order_not_cancellable"), (409, "invalid_order_state"),
                  services.PaymentUnavailable])
def cancel_order(order_no: str):
    order = services.get_own(current_user, order_no)
    services.close(order, "user_cancelled")
    db.session.commit()
    return order_out(order)


@bp.post("/orders/<order_no>/refund")
@login_required
@endpoint("Ask for a refund of unused credits within the refund window", body=RefundIn, response=OrderOut,
          auth=True, tags=TAGS, idempotent=True,
          errors=[(404, "order_not_found"), (409, "refund_not_allowed"), (409, "refund_exceeds_paid"),
                  (409, "invalid_order_state")],
          description="Credits never used, within REFUND_WINDOW_DAYS; HD downloads and disputes go through "
                      "customer service. Errors: refund_not_allowed, refund_exceeds_paid.")
def refund_order(order_no: str, body: RefundIn):
    order = services.get_own(current_user, order_no)
    window = timedelta(days=current_app.config["REFUND_WINDOW_DAYS"])
    product = PRODUCTS[order.product_id]
    from .models import Entitlement

    entitlement = db.session.query(Entitlement).filter_by(order_id=order.id).one_or_none()
    allowed = (product.grants == "credit" and entitlement is not None and entitlement.credits_used == 0
               and order.paid_at is not None and utcnow() - order.paid_at <= window)
    if not allowed:
        raise Conflict("This order cannot be refunded here; contact customer service.", code="refund_not_allowed")
    services.request_refund(order, None, f"user: {body.reason}")
    return order_out(order)


def _fail(status: int, message: str) -> Response:
    response = jsonify({"code": "FAIL", "message": message})
    response.status_code = status
    return response


def _notification() -> Response:
    if current_app.config["REQUIRE_HTTPS"] and request.scheme != "https":
        return _fail(403, "https only")
    try:
        notifications.handle_notification(dict(request.headers), request.get_data(cache=False))
    except wechatpay.NotificationRejected as exc:
        db.session.rollback()
        log.warning("payment notification rejected", extra={"reason": str(exc)})
        events.payment_notification_rejected.send(current_app._get_current_object(), reason=str(exc))
        return _fail(400, "rejected")
    return Response(status=204)


@payments_bp.post("/notify")
@endpoint("WeChat Pay: payment notifications (signed, encrypted)", status=204, tags=("payments",), errors=[400])
def transaction_notification():
    return _notification()


@payments_bp.post("/refund-notify")
@endpoint("WeChat Pay: refund notifications (signed, encrypted)", status=204, tags=("payments",), errors=[400])
def refund_notification():
    return _notification()
