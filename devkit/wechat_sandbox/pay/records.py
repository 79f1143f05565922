"""Records of the WeChat Pay emulation and their JSON shapes, as WeChat Pay answers and notifies them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from devkit.wechat_sandbox.pay.crypto import rfc3339

NOTPAY, SUCCESS, CLOSED, REFUND, USERPAYING, PAYERROR = (
    "NOTPAY", "SUCCESS", "CLOSED", "REFUND", "USERPAYING", "PAYERROR")
UNPAID_STATES = (NOTPAY, USERPAYING, PAYERROR)
TRADE_STATE_DESC = {
    NOTPAY: "订单未支付",
    SUCCESS: "支付成功",
    CLOSED: "订单已关闭",
    REFUND: "订单发生过退款",
    USERPAYING: "用户支付中，需要输入密码",
    PAYERROR: "支付失败，请重新下单支付",
}
REFUND_PROCESSING, REFUND_SUCCESS, REFUND_ABNORMAL, REFUND_CLOSED = "PROCESSING", "SUCCESS", "ABNORMAL", "CLOSED"
REFUND_OUTCOMES = (REFUND_SUCCESS, REFUND_ABNORMAL, REFUND_CLOSED)
REFUND_EVENTS = {
    REFUND_SUCCESS: ("REFUND.SUCCESS", "退款成功"),
    REFUND_ABNORMAL: ("REFUND.ABNORMAL", "退款异常"),
    REFUND_CLOSED: ("REFUND.CLOSED", "退款关闭"),
}
USER_RECEIVED_ACCOUNT = "支付用户零钱"


@dataclass
class Transaction:
    mchid: str
    appid: str
    out_trade_no: str
    description: str
    notify_url: str
    total: int
    currency: str
    openid: str
    attach: str | None
    time_expire: float | None
    fingerprint: str
    created_at: float
    prepay_id: str
    prepay_expires_at: float
    trade_state: str = NOTPAY
    transaction_id: str | None = None
    success_time: float | None = None
    closed_at: float | None = None
    bank_type: str | None = None


@dataclass
class Refund:
    mchid: str
    refund_id: str
    out_refund_no: str
    out_trade_no: str
    transaction_id: str
    reason: str | None
    notify_url: str
    refund: int
    total: int
    currency: str
    created_at: float
    outcome: str = REFUND_SUCCESS  # what it turns into when settled
    status: str = REFUND_PROCESSING
    success_time: float | None = None


@dataclass
class Delivery:
    """One notification and every attempt to deliver it (scheduled, duplicated, redelivered)."""

    notification_id: str
    event_type: str
    url: str
    body: str  # the exact JSON sent (and signed) every time
    resource: dict[str, Any]  # the decrypted resource, for developers
    created_at: float
    out_trade_no: str | None = None
    out_refund_no: str | None = None
    status: str = "pending"  # pending, delivered, failed, cancelled, no_notify_url
    attempts: list[dict[str, Any]] = field(default_factory=list)


def transaction_json(tx: Transaction) -> dict[str, Any]:
    """The query answer (and, when paid, the TRANSACTION.SUCCESS resource)."""
    body: dict[str, Any] = {
        "appid": tx.appid,
        "mchid": tx.mchid,
        "out_trade_no": tx.out_trade_no,
        "trade_state": tx.trade_state,
        "trade_state_desc": TRADE_STATE_DESC[tx.trade_state],
        "attach": tx.attach or "",
        "amount": {"total": tx.total, "payer_currency": tx.currency},
        "promotion_detail": [],
    }
    if tx.transaction_id is not None:
        body.update({
            "transaction_id": tx.transaction_id,
            "trade_type": "JSAPI",
            "bank_type": tx.bank_type or "OTHERS",
            "success_time": rfc3339(tx.success_time or tx.created_at),
            "payer": {"openid": tx.openid},
            "amount": {"total": tx.total, "payer_total": tx.total, "currency": tx.currency,
                       "payer_currency": tx.currency},
        })
    return body


def refund_json(refund: Refund) -> dict[str, Any]:
    """The refund answer of ``POST /v3/refund/domestic/refunds`` and of the refund query."""
    body: dict[str, Any] = {
        "refund_id": refund.refund_id,
        "out_refund_no": refund.out_refund_no,
        "transaction_id": refund.transaction_id,
        "out_trade_no": refund.out_trade_no,
        "channel": "ORIGINAL",
        "user_received_account": USER_RECEIVED_ACCOUNT,
        "create_time": rfc3339(refund.created_at),
        "status": refund.status,
        "funds_account": "AVAILABLE",
        "amount": {
            "total": refund.total, "refund": refund.refund, "from": [], "payer_total": refund.total,
            "payer_refund": refund.refund, "settlement_refund": refund.refund, "settlement_total": refund.total,
            "discount_refund": 0, "currency": refund.currency, "refund_fee": 0,
        },
        "promotion_detail": [],
    }
    if refund.success_time is not None:
        body["success_time"] = rfc3339(refund.success_time)
    return body


def refund_resource(refund: Refund) -> dict[str, Any]:
    """The decrypted resource of REFUND.SUCCESS / REFUND.ABNORMAL / REFUND.CLOSED notifications."""
    body: dict[str, Any] = {
        "mchid": refund.mchid,
        "out_trade_no": refund.out_trade_no,
        "transaction_id": refund.transaction_id,
        "out_refund_no": refund.out_refund_no,
        "refund_id": refund.refund_id,
        "refund_status": refund.status,
        "amount": {"total": refund.total, "refund": refund.refund, "payer_total": refund.total,
                   "payer_refund": refund.refund},
        "user_received_account": USER_RECEIVED_ACCOUNT,
    }
    if refund.success_time is not None:
        body["success_time"] = rfc3339(refund.success_time)
    return body
