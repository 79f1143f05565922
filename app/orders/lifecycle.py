"""Orders' personal-data lifecycle: orders, their events, refunds and entitlements.

Orders are transaction records the law keeps (3 years): when the account is cancelled they stay, at once
without any link to the person or to the person's WeChat account (user, payer openid hash, prepay id).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import and_, func, or_, select, update

from app.core.i18n import N_, _l
from app.core.lifecycle import ExportArchive, Holding, Lifecycle, Processing, RetentionClass, ts
from app.extensions import db

from .models import Entitlement, Order
from .products import PRODUCTS

# What links an order to a person and their WeChat account; cleared on cancellation and by retention.
PSEUDONYM_COLUMNS = ("user_id", "payer_openid_hash", "prepay_id")

_orders = Order.__table__


def holdings(user_id: int) -> list[Holding]:
    count = db.session.scalar(select(func.count()).select_from(Order).where(Order.user_id == user_id)) or 0
    return [Holding("orders", count, _l("3 years (required by law), pseudonymised after cancellation"))]


def export(user_id: int, archive: ExportArchive) -> None:
    from .views import PAYMENT_STATUS

    orders = list(db.session.scalars(select(Order).where(Order.user_id == user_id).order_by(Order.id)))
    entitlements = list(db.session.scalars(select(Entitlement).where(Entitlement.user_id == user_id)
                                           .order_by(Entitlement.id)))
    order_numbers = {o.id: o.out_trade_no for o in orders}
    payload: dict[str, Any] = {
        "orders": [{
            "order_no": o.out_trade_no,
            "item": PRODUCTS[o.product_id].name if o.product_id in PRODUCTS else o.product_id,
            "product": o.product_id, "subject": o.subject_id, "amount_fen": o.amount_fen, "currency": o.currency,
            "created_at": ts(o.created_at), "status": o.status, "payment_method": o.payment_method,
            "payment_status": PAYMENT_STATUS.get(o.status, o.status), "wechat_transaction_id": o.transaction_id,
            "paid_at": ts(o.paid_at), "fulfilled_at": ts(o.fulfilled_at), "closed_at": ts(o.closed_at),
            "refunded_fen": o.refunded_fen,
            "events": [{"from": e.from_status, "to": e.to_status, "cause": e.cause, "at": ts(e.created_at)}
                       for e in o.events],
            "refunds": [{"refund_no": r.out_refund_no, "amount_fen": r.amount_fen, "reason": r.reason,
                         "status": r.status, "created_at": ts(r.created_at), "finished_at": ts(r.finished_at)}
                        for r in o.refunds],
        } for o in orders],
        "entitlements": [{"order_no": order_numbers.get(e.order_id), "kind": e.kind, "subject": e.subject_id,
                          "credit_kind": e.credit_kind, "credits_total": e.credits_total,
                          "credits_used": e.credits_used, "granted_at": ts(e.created_at),
                          "revoked_at": ts(e.revoked_at)} for e in entitlements],
    }
    archive.add_json("orders.json", "orders", payload, records=len(payload["orders"]))


def erase(user_id: int, reason: str) -> None:
    """Kept by law, without a link to the person: every WeChat reference goes in this transaction."""
    db.session.execute(update(Order).where(Order.user_id == user_id)
                       .values({**dict.fromkeys(PSEUDONYM_COLUMNS), "prepay_expires_at": None}))


def _orders_due(cutoff: datetime):
    return and_(_orders.c.created_at <= cutoff, _orders.c.status != "refunding")  # money in flight waits


def _orders_without_user_due(cutoff: datetime):
    return and_(_orders.c.user_id.is_(None), _orders.c.created_at <= cutoff,
                or_(*(_orders.c[name].is_not(None) for name in PSEUDONYM_COLUMNS if name != "user_id")))


def lifecycle() -> Lifecycle:
    years = current_app.config["RETENTION"]["orders"]["days"] // 365
    return Lifecycle(
        domain="orders", holdings=holdings, export=export, erase=erase, erase_order=30,
        kept_pseudonymised=((_orders.name, PSEUDONYM_COLUMNS),),
        retention=(
            RetentionClass("orders_without_user", N_("orders whose account is gone"), "creation", "anonymise", 80,
                           table=_orders, due=_orders_without_user_due, columns=PSEUDONYM_COLUMNS),
            RetentionClass("orders", N_("orders with their events, refunds, entitlements (transaction records)"),
                           "creation", "delete", 90, table=_orders, due=_orders_due),
        ),
        processing=(Processing("下单、支付与退款；订单依法保存",
                               "履行合同所必需；履行法定义务（《电子商务法》第三十一条：交易信息保存不少于三年）",
                               "订单号、商品、金额、支付状态、微信支付交易号、付款人 openid（哈希）",
                               f"{years} 年；注销账号后立即去除与您的关联（含微信支付 prepay_id、付款人标识）",
                               "微信支付（财付通支付科技有限公司）"),))
