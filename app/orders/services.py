"""Order rules: create + prepay, payments (exactly once), close, refunds, entitlements.

Money moves only on verified facts: a payment counts when a verified notification or our own query
of WeChat says SUCCESS with the right merchant, app, order number and amount — never because the
mini-program said so. Each transition locks the order row (``SELECT … FOR UPDATE``) and is recorded
with its cause; fulfilment is unique per order in the database. Notifications arrive through
``notifications`` (whose fast path writes what ``transition`` and ``fulfil`` write here); shipping
info after fulfilment through ``shipping``.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from flask import current_app
from sqlalchemy import insert, select

from app.accounts.services import openid_of
from app.core import idempotency
from app.core.crypto import lookup_hash
from app.core.db import insert_as_loaded, utcnow
from app.core.errors import ApiError, Conflict, NotFound, ServiceUnavailable
from app.core.i18n import _l
from app.core.pagination import PageQuery, paginate
from app.extensions import db

from . import wechatpay
from .models import TRANSITIONS, Entitlement, Order, OrderEvent, OrderStatus, Refund
from .products import PRODUCTS, Product

if TYPE_CHECKING:
    from app.accounts.models import User

log = logging.getLogger(__name__)

_INSERT_EVENT = insert(OrderEvent.__table__)

PREPAY_VALID = timedelta(hours=2)
PREPAY_RENEW_MARGIN = timedelta(minutes=10)


class InvalidOrder(ApiError):
    status, code, message = 422, "invalid_order", "This order cannot be created."


class PaymentUnavailable(ServiceUnavailable):
    code, message = "payment_unavailable", "WeChat Pay is not answering; please try again shortly."


def new_order_number() -> str:
    """≤ 32 characters of [A-Z0-9] (no '|': wechatpayv3 signs the unencoded path), not guessable."""
    return "MH" + utcnow().strftime("%y%m%d") + secrets.token_hex(12).upper()


def transition(order: Order, to_status: str, cause: str) -> None:
    if to_status not in TRANSITIONS[order.status]:
        raise Conflict(_l("An order that is %(status)s cannot become %(to_status)s.", status=order.status,
                          to_status=to_status), code="invalid_order_state",
                       details={"status": order.status})
    db.session.add(OrderEvent(order_id=order.id, from_status=order.status, to_status=to_status, cause=cause))
    order.status = to_status


def payer_openid(user_id: int) -> str:
    openid = openid_of(user_id)
    if openid is None:
        raise InvalidOrder("Pay from the mini-program (a WeChat login is needed).", code="wechat_login_required")
    return openid


def _check_subject(user: User, product: Product, subject_id: str | None) -> None:
    from app.generation.services import owns

    if product.subject is None:
        return
    if not (subject_id and owns(user.id, product.subject, subject_id)):
        if product.subject == "result":
            raise NotFound("No such result.", code="result_not_found")
        raise NotFound("No such job.", code="job_not_found")
    if product.grants in ("hd_result", "hd_job") and _owns_hd(user, product.subject, subject_id):
        raise Conflict("You already have the HD download of this; there is nothing more to buy.",
                       code="already_entitled", details={product.subject: subject_id})


def _owns_hd(user: User, subject: str, subject_id: str) -> bool:
    """Never sell the same HD download twice: a result covered by its job's purchase or by the credit that paid
    for the job, or a job whose every result is already the user's."""
    from app.generation.services import hd_refs

    from .entitlements import has_hd

    job_id, job_public_id, result_ids = hd_refs(subject, subject_id)
    if subject == "result":
        return has_hd(user.id, result_ids[0], job_public_id, job_id=job_id)
    if has_hd(user.id, "", job_public_id, job_id=job_id):
        return True
    return bool(result_ids) and all(has_hd(user.id, result_id, job_public_id) for result_id in result_ids)


def create_order(user: User, product_id: str, subject_id: str | None) -> tuple[Order, dict]:
    """A new order with its prepay_id, and the ``wx.requestPayment`` parameters.

    WeChat is asked for the prepay first, under the order number drawn here, so the order is inserted once,
    complete: a refused or unanswered prepay leaves no order (``payment_unavailable``; a retry draws a new
    number), and an insert that fails after it leaves only an unused prepay at WeChat, which expires
    unpaid (nobody got its ``paySign``). The order and its first event are two prebuilt Core inserts (the
    ORM's unit of work cost more than both statements); the returned ``Order`` is placed in the session as
    loaded, without a query (``insert_as_loaded``). Committed through ``idempotency.commit``: with its stored
    answer when the request carries an Idempotency-Key.
    """
    product = PRODUCTS.get(product_id)
    if product is None:
        raise InvalidOrder("No such product.", code="unknown_product")
    _check_subject(user, product, subject_id)
    openid = payer_openid(user.id)
    now = utcnow()
    order = Order(out_trade_no=new_order_number(), user_id=user.id, product_id=product.id, subject_id=subject_id,
                  amount_fen=product.price_fen, currency="CNY", status=OrderStatus.CREATED,
                  payment_method="wechat_jsapi", payer_openid_hash=lookup_hash(openid, "wechat.openid"),
                  prepay_expires_at=now + PREPAY_VALID, transaction_id=None, refunded_fen=0,
                  created_at=now, expires_at=now + timedelta(seconds=current_app.config["ORDER_TTL_S"]),
                  paid_at=None, fulfilled_at=None, closed_at=None, shipping_uploaded_at=None)
    order.prepay_id = _ask_prepay(order, openid)
    insert_as_loaded(db.session, order)  # every column set above: persistent as loaded, no SELECT
    db.session.connection().execute(_INSERT_EVENT, {"order_id": order.id, "from_status": None,
                                                    "to_status": OrderStatus.CREATED, "cause": "user",
                                                    "created_at": now})
    idempotency.commit()
    return order, wechatpay.request_payment_params(order.prepay_id)


def _ask_prepay(order: Order, openid: str) -> str:
    """A prepay_id from WeChat Pay for ``order`` (JSAPI, the mini-program's payer), or PaymentUnavailable."""
    try:
        answer = wechatpay.call("pay", description=PRODUCTS[order.product_id].name, out_trade_no=order.out_trade_no,
                                amount={"total": order.amount_fen, "currency": order.currency},
                                payer={"openid": openid}, time_expire=rfc3339(order.expires_at))
    except wechatpay.PayUnavailable as exc:
        log.warning("prepay failed", extra={"error": str(exc)})
        raise PaymentUnavailable() from exc
    except wechatpay.PayError as exc:
        log.warning("prepay refused", extra={"code": exc.code})
        raise PaymentUnavailable(details={"wechat_code": exc.code}) from exc
    return answer["prepay_id"]


def prepay(order: Order, openid: str | None = None) -> dict:
    """Parameters for ``wx.requestPayment``; reuses a prepay_id still valid, else asks for a new one."""
    if order.status != OrderStatus.CREATED:
        raise Conflict("This order can no longer be paid.", code="order_not_payable", details={"status": order.status})
    now = utcnow()
    if order.expires_at <= now:
        raise Conflict("This order expired; start a new one.", code="order_expired")
    if not order.prepay_id or not order.prepay_expires_at or order.prepay_expires_at - PREPAY_RENEW_MARGIN <= now:
        order.prepay_id = _ask_prepay(order, openid or payer_openid(order.user_id))
        order.prepay_expires_at = now + PREPAY_VALID
        db.session.commit()
    return wechatpay.request_payment_params(order.prepay_id)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone().isoformat(timespec="seconds")


def get_own(user: User, out_trade_no: str) -> Order:
    order = db.session.scalar(select(Order).where(Order.out_trade_no == out_trade_no, Order.user_id == user.id))
    if order is None:
        raise NotFound("No such order.", code="order_not_found")
    return order


def list_own(user: User, page: PageQuery) -> tuple[list[Order], str | None]:
    """Newest first, one page (see ``app.core.pagination``)."""
    return paginate(select(Order).where(Order.user_id == user.id), page, Order.id.desc())


# --- payments -------------------------------------------------------------------------------------

FULFILMENT_CAUSE = "entitlement_granted"


def _locked(out_trade_no: str) -> Order | None:
    return db.session.scalar(select(Order).where(Order.out_trade_no == out_trade_no).with_for_update())


def merchant_mismatches(transaction: dict) -> list[str]:
    """What in a transaction is not ours or not a success, whatever the order (no database needed)."""
    m = wechatpay.merchant()
    return [name for name, ok in (
        ("mchid", transaction.get("mchid") == m.mchid), ("appid", transaction.get("appid") == m.appid),
        ("trade_state", transaction.get("trade_state") == "SUCCESS"),
    ) if not ok]


def payer_hash(transaction: dict) -> str | None:
    openid = (transaction.get("payer") or {}).get("openid")
    return lookup_hash(openid, "wechat.openid") if isinstance(openid, str) and openid else None


def order_mismatches(order: Order, transaction: dict) -> list[str]:
    """What in a transaction differs from what the order fixed: amount, currency, the payer if bound."""
    amount = transaction.get("amount") or {}
    return [name for name, ok in (
        ("amount", amount.get("total") == order.amount_fen),
        ("currency", amount.get("currency") == order.currency),
        ("payer", order.payer_openid_hash is None or payer_hash(transaction) == order.payer_openid_hash),
    ) if not ok]


def apply_paid_transaction(transaction: dict, cause: str) -> Order:
    """A verified SUCCESS transaction: check it against the order and pay + fulfil, exactly once."""
    order = _locked(transaction.get("out_trade_no", ""))
    if order is None:
        raise wechatpay.NotificationRejected("unknown order")
    mismatches = merchant_mismatches(transaction) + order_mismatches(order, transaction)
    if mismatches:
        raise wechatpay.NotificationRejected(f"does not match the order: {', '.join(mismatches)}")
    if order.status not in (OrderStatus.CREATED, OrderStatus.CLOSED):
        return order  # already paid: a duplicate notification or the query found it first
    raced_close = order.status == OrderStatus.CLOSED
    transition(order, OrderStatus.PAID, cause)
    order.paid_at = utcnow()
    order.transaction_id = transaction.get("transaction_id")
    if raced_close:
        # Paid after the user cancelled (the close raced the payment): give the money back.
        _start_refund(order, order.amount_fen, "paid_after_close")
    else:
        fulfil(order)
    return order


def product_grant(product_id: str) -> dict:
    """What a product grants once paid: the entitlement's kind and its credits (the one place that says it)."""
    product = PRODUCTS[product_id]
    return {"kind": product.grants, "credit_kind": product.credit_kind, "credits_total": product.credits}


def entitlement_values(order_id: int, user_id: int | None, product_id: str, subject_id: str | None) -> dict:
    """The entitlement row a paid order grants: exactly what its product sells."""
    return {"user_id": user_id, "order_id": order_id, "subject_id": subject_id, **product_grant(product_id)}


def fulfil(order: Order) -> None:
    from .shipping import upload_after_commit

    db.session.add(Entitlement(**entitlement_values(order.id, order.user_id, order.product_id, order.subject_id)))
    transition(order, OrderStatus.FULFILLED, FULFILMENT_CAUSE)
    order.fulfilled_at = utcnow()
    upload_after_commit()  # WeChat may freeze the money until it has the shipping info


def query_and_apply(order: Order) -> Order:
    """Ask WeChat (the fallback when a notification is lost): pays, or closes an expired order."""
    try:
        transaction = wechatpay.call("query", out_trade_no=order.out_trade_no)
    except wechatpay.PayError as exc:
        if exc.code in ("ORDER_NOT_EXIST", "ORDERNOTEXIST", "RESOURCE_NOT_EXISTS"):
            transaction = {"trade_state": "NOTPAY"}
        else:
            raise
    if transaction.get("trade_state") == "SUCCESS":
        order = apply_paid_transaction(transaction, "query")
    elif order.status == OrderStatus.CREATED and order.expires_at <= utcnow():
        close(order, "expired")
    db.session.commit()
    return order


def close(order: Order, cause: str) -> None:
    """Close at WeChat first (so it can no longer be paid), then here; the caller commits."""
    if order.status != OrderStatus.CREATED:
        raise Conflict("Only an unpaid order can be cancelled.", code="order_not_cancellable",
                       details={"status": order.status})
    try:
        wechatpay.call("close", out_trade_no=order.out_trade_no)
    except wechatpay.PayError as exc:
        if exc.code == "ORDERPAID":
            transaction = wechatpay.call("query", out_trade_no=order.out_trade_no)
            apply_paid_transaction(transaction, "query_on_close")
            return
        if exc.code not in ("ORDER_CLOSED", "ORDERCLOSED", "ORDER_NOT_EXIST", "ORDERNOTEXIST"):
            raise
    except wechatpay.PayUnavailable as exc:
        raise PaymentUnavailable() from exc
    transition(order, OrderStatus.CLOSED, cause)
    order.closed_at = utcnow()


def reconcile(now: datetime | None = None) -> dict[str, int]:
    """The scheduled fallback: query orders unpaid for a while, close those past expiry."""
    now = now or utcnow()
    config = current_app.config
    counts = {"queried": 0, "paid": 0, "closed": 0}
    stale = list(db.session.scalars(select(Order).where(
        Order.status == OrderStatus.CREATED,
        Order.created_at <= now - timedelta(seconds=config["ORDER_QUERY_AFTER_S"]))))
    for order in stale:
        try:
            result = query_and_apply(order)
        except (wechatpay.PayUnavailable, wechatpay.PayError) as exc:
            log.warning("reconcile: query failed", extra={"error": str(exc)})
            db.session.rollback()
            continue
        counts["queried"] += 1
        counts["paid"] += result.status in (OrderStatus.FULFILLED, OrderStatus.PAID, OrderStatus.REFUNDING)
        counts["closed"] += result.status == OrderStatus.CLOSED
    return counts


# --- refunds --------------------------------------------------------------------------------------

def _start_refund(order: Order, amount_fen: int, reason: str) -> Refund:
    """Record a refund and move the order to refunding; the call to WeChat happens in a job after commit."""
    remaining = order.amount_fen - order.refunded_fen - sum(
        r.amount_fen for r in order.refunds if r.status in ("requested", "processing"))
    if not 0 < amount_fen <= remaining:
        raise Conflict("Nothing (or not that much) left to refund.", code="refund_exceeds_paid",
                       details={"refundable_fen": remaining})
    refund = Refund(order_id=order.id, out_refund_no=f"{order.out_trade_no}R{len(order.refunds) + 1}",
                    amount_fen=amount_fen, reason=reason)
    db.session.add(refund)
    transition(order, OrderStatus.REFUNDING, f"refund:{reason}")
    db.session.flush()
    from .tasks import submit_refund

    submit_refund.enqueue_after_commit(refund.id)
    for entitlement in db.session.scalars(select(Entitlement).where(Entitlement.order_id == order.id)):
        entitlement.revoked_at = entitlement.revoked_at or utcnow()
    return refund


def request_refund(order: Order, amount_fen: int | None, reason: str) -> Refund:
    refund = _start_refund(order, amount_fen or order.amount_fen - order.refunded_fen, reason)
    db.session.commit()
    return refund


def submit(refund_id: int) -> str:
    """Send a refund to WeChat (idempotent: ``out_refund_no`` is WeChat's idempotency key)."""
    refund = db.session.get(Refund, refund_id)
    if refund is None or refund.status not in ("requested", "processing"):
        return "nothing_to_do"
    order = db.session.get(Order, refund.order_id)
    answer = wechatpay.call("refund", out_refund_no=refund.out_refund_no, out_trade_no=order.out_trade_no,
                            reason=refund.reason[:80],
                            amount={"refund": refund.amount_fen, "total": order.amount_fen, "currency": "CNY"},
                            notify_url=wechatpay.merchant().notify_url.replace("/notify", "/refund-notify"))
    _settle_refund(refund, answer.get("status", "PROCESSING"))
    db.session.commit()
    return refund.status


def apply_refund_result(resource: dict) -> None:
    refund = db.session.scalar(select(Refund).where(Refund.out_refund_no == resource.get("out_refund_no", ""))
                               .with_for_update())
    if refund is None:
        raise wechatpay.NotificationRejected("unknown refund")
    _settle_refund(refund, resource.get("refund_status") or resource.get("status", ""))


def _settle_refund(refund: Refund, wechat_status: str) -> None:
    status = {"SUCCESS": "success", "CLOSED": "closed", "ABNORMAL": "abnormal",
              "PROCESSING": "processing"}.get(wechat_status, refund.status)
    if refund.status in ("success", "closed") or status == refund.status:
        return
    refund.status = status
    if status not in ("success", "closed"):
        return
    refund.finished_at = utcnow()
    order = db.session.scalar(select(Order).where(Order.id == refund.order_id).with_for_update())
    if status == "success":
        order.refunded_fen += refund.amount_fen
        done = order.refunded_fen >= order.amount_fen
        transition(order, OrderStatus.REFUNDED if done else OrderStatus.PARTIALLY_REFUNDED, "refund_succeeded")
    else:  # WeChat could not refund: the order stands, and so does what it granted
        transition(order, OrderStatus.FULFILLED if order.fulfilled_at else OrderStatus.PAID, "refund_closed")
        for entitlement in db.session.scalars(select(Entitlement).where(Entitlement.order_id == order.id)):
            entitlement.revoked_at = None


def user_ids_with_orders_between(since, until) -> list[int]:
    """Users with an order placed by ``until`` (orders are kept 3 years, so it still existed in [since, until]);
    orders of cancelled accounts have no user any more (notices)."""
    return list(db.session.scalars(select(Order.user_id).distinct().where(
        Order.created_at <= until, Order.user_id.is_not(None))))
