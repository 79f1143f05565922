"""The emulated ``api.mch.weixin.qq.com`` (WeChat Pay API v3, direct merchant, mini-program payments).

==========================================================  =====================================================
``POST /v3/pay/transactions/jsapi``                          ``{appid, mchid, description, out_trade_no, notify_url,
                                                             amount{total, currency}, payer{openid}, time_expire?,
                                                             attach?}`` → 200 ``{prepay_id}``
``GET  /v3/pay/transactions/out-trade-no/{no}?mchid=``       → 200 transaction
``GET  /v3/pay/transactions/id/{transaction_id}?mchid=``     → 200 transaction
``POST /v3/pay/transactions/out-trade-no/{no}/close``        ``{mchid}`` → 204
``POST /v3/refund/domestic/refunds``                         ``{out_trade_no | transaction_id, out_refund_no,
                                                             reason?, notify_url?, amount{refund, total, currency}}``
                                                             → 200 refund
``GET  /v3/refund/domestic/refunds/{out_refund_no}``         → 200 refund
``GET  /v3/certificates``                                    → 200 ``{data: [{serial_no, effective_time, expire_time,
                                                             encrypt_certificate{algorithm, nonce, associated_data,
                                                             ciphertext}}]}``
==========================================================  =====================================================

transaction = ``{appid, mchid, out_trade_no, trade_state, trade_state_desc, attach, amount{total,
payer_currency[, payer_total, currency]}, promotion_detail[, transaction_id, trade_type, bank_type,
success_time, payer{openid}]}``; refund = ``{refund_id, out_refund_no, transaction_id, out_trade_no,
channel, user_received_account, create_time, status, funds_account, amount{…}, promotion_detail[,
success_time]}``.

Every request must carry a valid ``Authorization`` signature (401 ``SIGN_ERROR`` otherwise, with WeChat's
``detail.sign_information`` showing the message the sandbox verified).  The signed URL is the request
target *as sent* (percent-encoding included).  Every answer, errors and 204 included, is signed
(``Wechatpay-*`` headers over the exact body).  Errors are ``{"code", "message"[, "detail"]}`` with
WeChat's HTTP statuses (see :mod:`.errors`).  Faults added through the dev API answer first (``before``)
or replace a successful answer after the work is done (``after``: a lost answer).
"""

from __future__ import annotations

import json
import secrets
import time
from urllib.parse import quote

from flask import Blueprint, Response, current_app, g, request

from devkit.wechat_sandbox.pay import validation
from devkit.wechat_sandbox.pay.crypto import (
    encrypt_resource,
    parse_authorization,
    request_message,
    rfc3339,
    rsa_verify,
)
from devkit.wechat_sandbox.pay.errors import PayApiError, param_error, required, sign_error
from devkit.wechat_sandbox.pay.state import PayState

PAY_EXTENSION_KEY = "wechat_sandbox_pay"
TRUNCATED_SIGN_MESSAGE = 240

blueprint = Blueprint("wechat_sandbox_pay_api", __name__, url_prefix="/v3")


def pay_state() -> PayState:
    return current_app.extensions[PAY_EXTENSION_KEY]


def pay_json(body: object, status: int = 200) -> Response:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return Response(text, status=status, content_type="application/json; charset=utf-8")


def no_content() -> Response:
    response = Response(status=204)
    del response.headers["Content-Type"]
    return response


def signed_url() -> str:
    """The request target as the client sent (and signed) it: path and query, percent-encoding kept."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if raw:
        if raw.startswith(("http://", "https://")):  # absolute form (through a proxy)
            raw = "/" + raw.split("/", 3)[3] if raw.count("/") >= 3 else "/"
        return raw
    query = request.query_string.decode("latin-1")
    return quote(request.path, safe="/!$&'()*+,;=:@-._~") + (f"?{query}" if query else "")


def authenticate(state: PayState) -> str:
    """The mchid of a correctly signed request; 401 SIGN_ERROR otherwise."""
    try:
        fields = parse_authorization(request.headers.get("Authorization"))
    except ValueError as exc:
        raise sign_error(str(exc)) from None
    url = signed_url()
    body = request.get_data(cache=True).decode("utf-8", errors="replace")
    message = request_message(request.method, url, fields["timestamp"], fields["nonce_str"], body)
    information = {"method": request.method, "url": url, "sign_message_length": len(message.encode()),
                   "truncated_sign_message": message[:TRUNCATED_SIGN_MESSAGE]}
    if not fields["timestamp"].isdigit():
        raise sign_error("timestamp is not a number of seconds", information)
    if abs(time.time() - int(fields["timestamp"])) > state.settings.signature_max_skew:
        raise sign_error(f"timestamp is more than {state.settings.signature_max_skew} s off (check the clock)",
                         information)
    key, why = state.merchant_key(fields["mchid"], fields["serial_no"])
    if key is None:
        raise sign_error(why, information)
    if not rsa_verify(key, message, fields["signature"]):
        raise sign_error("sign not match", information)
    return fields["mchid"]


@blueprint.errorhandler(PayApiError)
def answer_pay_error(error: PayApiError) -> Response:
    return pay_json(error.body(), error.status)


@blueprint.before_request
def check_signature_and_faults() -> None:
    state = pay_state()
    g.pay_mchid = authenticate(state)
    fault = state.take_fault(request.path, "before")
    if fault is not None:
        time.sleep(fault.delay)
        raise PayApiError(fault.code, fault.message, status=fault.status)


@blueprint.after_request
def sign_answer(response: Response) -> Response:
    state = pay_state()
    if response.status_code < 300 and getattr(g, "pay_mchid", None):
        fault = state.take_fault(request.path, "after")
        if fault is not None:
            time.sleep(fault.delay)
            error = PayApiError(fault.code, fault.message, status=fault.status)
            response = pay_json(error.body(), error.status)
    response.headers["Request-ID"] = f"08{secrets.token_hex(15).upper()}"
    response.headers.update(state.signed_headers(response.get_data(as_text=True)))
    return response


def query_mchid() -> str:
    mchid = request.args.get("mchid")
    if not mchid:
        raise required("/mchid", "直连商户号", location="query")
    if mchid != g.pay_mchid:
        raise PayApiError("PARAM_ERROR", "请求参数mchid与Authorization中的商户号不一致")
    return mchid


@blueprint.post("/pay/transactions/jsapi")
def jsapi_order() -> Response:
    state = pay_state()
    body = validation.json_body(request.get_data(cache=True))
    order = validation.jsapi_order(body, g.pay_mchid, state.settings, state.clock.now())
    keys = state.keys
    if order["appid"] != keys.appid:
        raise PayApiError("APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")
    if not state.openid_belongs(order["appid"], order["payer"]["openid"]):
        raise PayApiError("PARAM_ERROR", "appid和openid不匹配")
    return pay_json({"prepay_id": state.create_order(order)})


@blueprint.get("/pay/transactions/out-trade-no/<out_trade_no>")
def query_by_out_trade_no(out_trade_no: str) -> Response:
    return pay_json(pay_state().query_order(query_mchid(), out_trade_no=out_trade_no))


@blueprint.get("/pay/transactions/id/<transaction_id>")
def query_by_transaction_id(transaction_id: str) -> Response:
    mchid = query_mchid()
    if not validation.TRANSACTION_ID.match(transaction_id):
        raise PayApiError("PARAM_ERROR", "微信订单号非法")
    return pay_json(pay_state().query_order(mchid, transaction_id=transaction_id))


@blueprint.post("/pay/transactions/out-trade-no/<out_trade_no>/close")
def close_order(out_trade_no: str) -> Response:
    body = validation.json_body(request.get_data(cache=True))
    mchid = validation.string(body, "/mchid", "直连商户号", 32)
    if mchid != g.pay_mchid:
        raise PayApiError("PARAM_ERROR", "请求参数mchid与Authorization中的商户号不一致")
    pay_state().close_order(g.pay_mchid, out_trade_no)
    return no_content()


@blueprint.post("/refund/domestic/refunds")
def create_refund() -> Response:
    state = pay_state()
    refund = validation.refund_request(validation.json_body(request.get_data(cache=True)), state.settings)
    return pay_json(state.create_refund(g.pay_mchid, refund))


@blueprint.get("/refund/domestic/refunds/<out_refund_no>")
def query_refund(out_refund_no: str) -> Response:
    if not validation.OUT_REFUND_NO.match(out_refund_no):
        raise param_error("/out_refund_no", "商户退款单号", "字符串规则校验失败，字符串不符合格式要求", out_refund_no,
                          "path")
    return pay_json(pay_state().query_refund(g.pay_mchid, out_refund_no))


@blueprint.get("/certificates")
def certificates() -> Response:
    """Platform certificates, each encrypted under the APIv3 key (``associated_data: certificate``)."""
    state = pay_state()
    data = [{
        "serial_no": platform.serial_no,
        "effective_time": rfc3339(platform.certificate.not_valid_before_utc.timestamp()),
        "expire_time": rfc3339(platform.certificate.not_valid_after_utc.timestamp()),
        "encrypt_certificate": encrypt_resource(state.keys.apiv3_key, platform.pem, "certificate"),
    } for platform in state.platform_certificates()]
    return pay_json({"data": data})


@blueprint.route("/<path:unknown>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def not_emulated(unknown: str) -> Response:
    raise PayApiError("RESOURCE_NOT_EXISTS", f"沙箱未模拟该接口 (not emulated): {request.method} /v3/{unknown}",
                      status=404)
