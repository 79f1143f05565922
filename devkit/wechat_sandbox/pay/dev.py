"""Developer API for WeChat Pay (``/sandbox/api/pay/…``, JSON) and page (``/sandbox/pay``): the payer and the bank.

Errors are ``{"error": "..."}`` with HTTP 400/404, like the rest of the dev API.

==================================================  ==================================================================
``GET  /sandbox/api/pay/merchant``                  → ``{mchid, appid, merchant_cert_serial_no, wechatpay_public_key_id,
                                                    platform_certificates: [{serial_no, expire_time}], signing,
                                                    notify_url, keys_dir}``
``GET  /sandbox/api/pay/credentials``               → what :func:`~devkit.wechat_sandbox.pay.dev_credentials` returns
                                                    (private key and APIv3 key included: development only)
``POST /sandbox/api/pay/signing``                   ``{mode: public_key|certificate|both}`` → merchant
``POST /sandbox/api/pay/platform-certificates``     rotate: a new platform certificate signs from now on →
                                                    ``{serial_no, certificate}``
``GET  /sandbox/api/pay/transactions``              → ``{transactions: [transaction + {prepay_id, prepay_expires_in,
                                                    notify_url, description}]}``
``POST /sandbox/api/pay/pay``                       ``{prepay_id | out_trade_no, user? | openid?, result?: SUCCESS |
                                                    PAYERROR | USERPAYING, bank_type?: "OTHERS", request_payment?:
                                                    {appId, timeStamp, nonceStr, package, signType, paySign}}`` →
                                                    ``{transaction, notification_id}``; the payer must be the order's
                                                    openid; ``request_payment`` (what ``wx.requestPayment`` got) is
                                                    verified like WeChat does (paySign with the merchant key)
``POST /sandbox/api/pay/transactions/<no>/expire``  the order's time_expire passes now → ``{transaction}`` (CLOSED)
``GET  /sandbox/api/pay/refunds``                   → ``{refunds: [refund + {reason, notify_url, planned_outcome}]}``
``POST /sandbox/api/pay/refunds/plan``              ``{status: SUCCESS|ABNORMAL|CLOSED, count?: 1}``: how the next
                                                    refunds end → ``{planned: [...]}``
``POST /sandbox/api/pay/refunds/<no>/settle``       ``{status?}`` (default: as planned) a PROCESSING or ABNORMAL refund
                                                    ends now → ``{refund, notification_id}``
``GET  /sandbox/api/pay/notifications``             ``?out_trade_no=&out_refund_no=&event_type=`` →
                                                    ``{notifications: [{id, event_type, url, status, out_trade_no,
                                                    out_refund_no, create_time, resource, body, attempts: [...]}]}``;
                                                    status: pending, delivered, failed, cancelled, no_notify_url,
                                                    probe_rejected, probe_accepted
``POST /sandbox/api/pay/notifications/<id>/redeliver``  ``{count?: 1, concurrent?: false}`` → ``{notification_id,
                                                    attempts}`` (duplicates, sent now, answered when all are done)
``POST /sandbox/api/pay/notifications/probe``       ``{url?, out_trade_no?}`` → attempt + ``{notification_id}``;
                                                    signature ``WECHATPAY/SIGNTEST/…``: the receiver must refuse it
``GET|POST|DELETE /sandbox/api/pay/faults``         ``{path (prefix, e.g. /v3/refund/), code: SYSTEM_ERROR…, status?,
                                                    message?, when?: before|after, count?: 1, delay?: 0}`` →
                                                    ``{faults: [...]}``
``POST /sandbox/api/pay/reset``                     → ``{reset: true}`` (``POST /sandbox/api/reset`` resets pay too)
==================================================  ==================================================================
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, render_template_string, request

from devkit.wechat_sandbox.devtools import DevApiError, integer, number, request_fields, user_name
from devkit.wechat_sandbox.pay import records
from devkit.wechat_sandbox.pay.api import pay_state
from devkit.wechat_sandbox.pay.crypto import rfc3339, rsa_verify
from devkit.wechat_sandbox.pay.errors import DEFAULT_MESSAGES, STATUS_BY_CODE
from devkit.wechat_sandbox.pay.settings import SIGNING_MODES
from devkit.wechat_sandbox.pay.state import PayFault, PayState

PAY_RESULTS = (records.SUCCESS, records.PAYERROR, records.USERPAYING)
MAX_COPIES = 50

blueprint = Blueprint("wechat_sandbox_pay_dev", __name__, url_prefix="/sandbox")


@blueprint.errorhandler(DevApiError)
def answer_dev_error(error: DevApiError) -> tuple[Response, int]:
    return jsonify({"error": error.message}), error.status


def text(fields: dict[str, Any], key: str, *, optional: bool = False) -> str | None:
    value = fields.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise DevApiError(f"{key} must be a non-empty string")
    return value


def merchant_json(state: PayState) -> dict[str, Any]:
    keys = state.keys
    return {
        "mchid": keys.mchid, "appid": keys.appid, "merchant_cert_serial_no": keys.merchant_serial_no,
        "wechatpay_public_key_id": keys.public_key_id, "signing": state.signing_mode,
        "platform_certificates": [
            {"serial_no": p.serial_no, "expire_time": rfc3339(p.certificate.not_valid_after_utc.timestamp())}
            for p in state.platform_certificates()],
        "notify_url": state.settings.notify_url, "keys_dir": str(keys.keys_dir) if keys.keys_dir else None,
    }


@blueprint.get("/api/pay/merchant")
def merchant() -> Response:
    return jsonify(merchant_json(pay_state()))


@blueprint.get("/api/pay/credentials")
def credentials() -> Response:
    return jsonify(pay_state().keys.credentials())


@blueprint.post("/api/pay/signing")
def signing() -> Response:
    state = pay_state()
    mode = request_fields().get("mode")
    if mode not in SIGNING_MODES:
        raise DevApiError(f"mode must be one of {', '.join(SIGNING_MODES)}")
    state.set_signing_mode(mode)
    return jsonify(merchant_json(state))


@blueprint.post("/api/pay/platform-certificates")
def rotate_platform_certificate() -> tuple[Response, int]:
    platform = pay_state().rotate_platform_certificate()
    return jsonify({"serial_no": platform.serial_no, "certificate": platform.pem}), 201


@blueprint.get("/api/pay/transactions")
def transactions() -> Response:
    return jsonify({"transactions": pay_state().list_orders()})


def verify_request_payment(state: PayState, fields: dict[str, Any]) -> str:
    """The prepay_id of verified ``wx.requestPayment`` parameters (WeChat's check of paySign)."""
    given = fields["request_payment"]
    if not isinstance(given, dict):
        raise DevApiError("request_payment must be an object")
    parts = {key: given.get(key) for key in ("appId", "timeStamp", "nonceStr", "package", "signType", "paySign")}
    missing = [key for key, value in parts.items() if not isinstance(value, str) or not value]
    if missing:
        raise DevApiError(f"request_payment lacks {', '.join(missing)} (all are strings)")
    if parts["signType"] != "RSA":
        raise DevApiError("request_payment.signType must be RSA for API v3 orders")
    if not parts["package"].startswith("prepay_id="):
        raise DevApiError("request_payment.package must be prepay_id=…")
    message = f"{parts['appId']}\n{parts['timeStamp']}\n{parts['nonceStr']}\n{parts['package']}\n"
    if not rsa_verify(state.keys.merchant_public_key, message, parts["paySign"]):
        raise DevApiError("支付验证签名失败: paySign does not verify with the merchant key over "
                          "appId\\ntimeStamp\\nnonceStr\\npackage\\n")
    return parts["package"].removeprefix("prepay_id=")


@blueprint.post("/api/pay/pay")
def pay() -> Response:
    state = pay_state()
    fields = request_fields()
    prepay_id = verify_request_payment(state, fields) if "request_payment" in fields else text(
        fields, "prepay_id", optional=True)
    out_trade_no = None if prepay_id else text(fields, "out_trade_no")
    try:
        tx = state.find_order(prepay_id=prepay_id, out_trade_no=out_trade_no)
    except LookupError as exc:
        raise DevApiError(str(exc), 404) from None
    if "request_payment" in fields and fields["request_payment"]["appId"] != tx.appid:
        raise DevApiError("request_payment.appId is not the order's appid")
    payer = state.sandbox.openid_for(tx.appid, user_name(fields)) if "user" in fields else text(
        fields, "openid", optional=True)
    if payer is not None and payer != tx.openid:
        raise DevApiError("this payer is not the order's payer.openid (WeChat refuses to pay it)")
    result = fields.get("result", records.SUCCESS)
    if result not in PAY_RESULTS:
        raise DevApiError(f"result must be one of {', '.join(PAY_RESULTS)}")
    try:
        delivery = state.pay(tx, result, text(fields, "bank_type", optional=True) or "OTHERS",
                             by_prepay_id=prepay_id is not None)
    except ValueError as exc:
        raise DevApiError(str(exc)) from None
    transaction = state.query_order(tx.mchid, out_trade_no=tx.out_trade_no)
    return jsonify({"transaction": transaction, "notification_id": delivery.notification_id if delivery else None})


@blueprint.post("/api/pay/transactions/<out_trade_no>/expire")
def expire(out_trade_no: str) -> Response:
    try:
        return jsonify({"transaction": pay_state().expire_order(out_trade_no)})
    except LookupError as exc:
        raise DevApiError(str(exc), 404) from None
    except ValueError as exc:
        raise DevApiError(str(exc)) from None


@blueprint.get("/api/pay/refunds")
def refunds() -> Response:
    return jsonify({"refunds": pay_state().list_refunds()})


def refund_status(fields: dict[str, Any], default: str | None) -> str | None:
    status = fields.get("status", default)
    if status is not None and status not in records.REFUND_OUTCOMES:
        raise DevApiError(f"status must be one of {', '.join(records.REFUND_OUTCOMES)}")
    return status


@blueprint.post("/api/pay/refunds/plan")
def plan_refunds() -> Response:
    fields = request_fields()
    status = refund_status(fields, records.REFUND_SUCCESS) or records.REFUND_SUCCESS
    return jsonify({"planned": pay_state().plan_refunds(status, integer(fields, "count", 1, 1, 1000))})


@blueprint.post("/api/pay/refunds/<out_refund_no>/settle")
def settle_refund(out_refund_no: str) -> Response:
    try:
        refund, delivery = pay_state().settle_refund(out_refund_no, refund_status(request_fields(), None))
    except LookupError as exc:
        raise DevApiError(str(exc), 404) from None
    except ValueError as exc:
        raise DevApiError(str(exc)) from None
    return jsonify({"refund": refund, "notification_id": delivery.notification_id if delivery else None})


@blueprint.get("/api/pay/notifications")
def notifications() -> Response:
    listed = pay_state().notifier.list()
    for key in ("out_trade_no", "out_refund_no", "event_type"):
        if request.args.get(key):
            listed = [item for item in listed if item[key] == request.args[key]]
    return jsonify({"notifications": listed})


@blueprint.post("/api/pay/notifications/<notification_id>/redeliver")
def redeliver(notification_id: str) -> Response:
    fields = request_fields()
    concurrent = fields.get("concurrent", False)
    if not isinstance(concurrent, bool):
        raise DevApiError("concurrent must be true or false")
    try:
        attempts = pay_state().notifier.send_copies(notification_id, integer(fields, "count", 1, 1, MAX_COPIES),
                                                    concurrent)
    except LookupError as exc:
        raise DevApiError(str(exc), 404) from None
    except ValueError as exc:
        raise DevApiError(str(exc)) from None
    return jsonify({"notification_id": notification_id, "attempts": attempts})


@blueprint.post("/api/pay/notifications/probe")
def probe() -> Response:
    state = pay_state()
    fields = request_fields()
    url = text(fields, "url", optional=True) or state.settings.notify_url
    out_trade_no = text(fields, "out_trade_no", optional=True)
    tx = None
    if out_trade_no:
        try:
            tx = state.find_order(out_trade_no=out_trade_no)
        except LookupError as exc:
            raise DevApiError(str(exc), 404) from None
        url = text(fields, "url", optional=True) or tx.notify_url
    if not url:
        raise DevApiError("give url (no default notify URL is configured)")
    keys = state.keys
    resource = {
        "mchid": keys.mchid, "appid": keys.appid, "out_trade_no": out_trade_no or "SIGNTEST0000000001",
        "transaction_id": "4200000000000000000000000000", "trade_type": "JSAPI", "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功", "bank_type": "OTHERS", "attach": "", "success_time": rfc3339(state.clock.now()),
        "payer": {"openid": tx.openid if tx else "oSIGNTEST000000000000000000"},
        "amount": {"total": tx.total if tx else 1, "payer_total": tx.total if tx else 1, "currency": "CNY",
                   "payer_currency": "CNY"},
    }
    return jsonify(state.notifier.probe(url, resource))


@blueprint.route("/api/pay/faults", methods=["GET", "POST", "DELETE"])
def faults() -> Response:
    state = pay_state()
    if request.method == "DELETE":
        state.clear_faults()
    elif request.method == "POST":
        fields = request_fields()
        path = text(fields, "path") or ""
        if not path.startswith("/v3/"):
            raise DevApiError("path must be a prefix of /v3/ paths, e.g. /v3/pay/transactions/jsapi")
        code = text(fields, "code")
        when = fields.get("when", "before")
        if when not in ("before", "after"):
            raise DevApiError("when must be before or after")
        message = text(fields, "message", optional=True) or DEFAULT_MESSAGES.get(code or "", code)
        state.add_fault(PayFault(
            path=path, code=code or "", status=integer(fields, "status", STATUS_BY_CODE.get(code or "", 500), 400, 599),
            message=message or "", when=when, remaining=integer(fields, "count", 1, 1, 1000),
            delay=number(fields, "delay", 60.0),
        ))
    return jsonify({"faults": state.list_faults()})


@blueprint.post("/api/pay/reset")
def reset() -> Response:
    pay_state().reset()
    return jsonify({"reset": True})


PAGE_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>WeChat Pay sandbox</title>
<style>body{font:14px sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse;margin-bottom:1em}
td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}code{font-size:12px}</style></head><body>
<h1>WeChat Pay sandbox</h1><p><a href="./">&larr; WeChat sandbox</a>. Not WeChat Pay: an emulator of
api.mch.weixin.qq.com (API v3). Dev API: <code>/sandbox/api/pay/…</code>
(see <code>devkit/wechat_sandbox/pay/dev.py</code>).</p>
{% if merchant %}<p>mchid <code>{{ merchant.mchid }}</code>, appid <code>{{ merchant.appid }}</code>, merchant serial
<code>{{ merchant.merchant_cert_serial_no }}</code>, public key <code>{{ merchant.wechatpay_public_key_id }}</code>,
signing: {{ merchant.signing }}, keys: <code>{{ merchant.keys_dir or "(memory)" }}</code></p>
{% else %}<p>Keys not generated yet (they are on the first payment call).</p>{% endif %}
<h2>Transactions ({{ transactions|length }})</h2><table><tr><th>out_trade_no</th><th>state</th><th>total</th>
<th>prepay_id</th><th>transaction_id</th></tr>{% for t in transactions[-30:] %}<tr><td>{{ t.out_trade_no }}</td>
<td>{{ t.trade_state }}</td><td>{{ t.amount.total }}</td><td><code>{{ t.prepay_id }}</code></td>
<td>{{ t.transaction_id or "" }}</td></tr>{% endfor %}</table>
<h2>Refunds ({{ refunds|length }})</h2><table><tr><th>out_refund_no</th><th>out_trade_no</th><th>status</th>
<th>refund</th></tr>{% for r in refunds[-30:] %}<tr><td>{{ r.out_refund_no }}</td><td>{{ r.out_trade_no }}</td>
<td>{{ r.status }}</td><td>{{ r.amount.refund }}</td></tr>{% endfor %}</table>
<h2>Notifications ({{ notifications|length }})</h2><table><tr><th>id</th><th>event</th><th>status</th>
<th>attempts</th><th>url</th></tr>{% for n in notifications[-30:] %}<tr><td><code>{{ n.id }}</code></td>
<td>{{ n.event_type }}</td><td>{{ n.status }}</td><td>{{ n.attempts|length }}</td><td>{{ n.url }}</td></tr>
{% endfor %}</table></body></html>"""


@blueprint.get("/pay")
def page() -> str:
    state = pay_state()
    return render_template_string(
        PAGE_TEMPLATE, merchant=merchant_json(state) if state.keys_loaded else None,
        transactions=state.list_orders(), refunds=state.list_refunds(), notifications=state.notifier.list())
