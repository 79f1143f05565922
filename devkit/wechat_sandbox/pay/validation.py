"""Request validation of the emulated WeChat Pay v3 APIs, with WeChat's PARAM_ERROR wording.

Lengths are counted in UTF-8 bytes, as WeChat's messages say ("字节数"): a Chinese ``description`` of
43 characters (129 bytes) is refused although it is shorter than 127 characters.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from devkit.wechat_sandbox.pay.crypto import parse_rfc3339
from devkit.wechat_sandbox.pay.errors import PayApiError, param_error, required
from devkit.wechat_sandbox.pay.settings import PaySettings

OUT_TRADE_NO = re.compile(r"^[A-Za-z0-9_\-|*]{6,32}$")
OUT_REFUND_NO = re.compile(r"^[A-Za-z0-9_\-|*@]{1,64}$")
TRANSACTION_ID = re.compile(r"^[0-9]{1,32}$")
MISSING = object()


def json_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"")
    except ValueError:
        raise PayApiError("PARAM_ERROR", "请求体格式错误，不是合法的JSON") from None
    if not isinstance(body, dict):
        raise PayApiError("PARAM_ERROR", "请求体格式错误，应为JSON对象")
    return body


def lookup(body: dict[str, Any], path: str) -> Any:
    value: Any = body
    for part in path.strip("/").split("/"):
        if not isinstance(value, dict) or part not in value:
            return MISSING
        value = value[part]
    return value


def string(body: dict[str, Any], path: str, label: str, max_bytes: int, *, optional: bool = False,
           pattern: re.Pattern[str] | None = None, location: str = "body") -> str | None:
    value = lookup(body, path)
    if value is MISSING or value is None or value == "":
        if optional:
            return None
        raise required(path, label, location)
    if not isinstance(value, str):
        raise param_error(path, label, "类型规则校验失败，应为字符串", value, location)
    size = len(value.encode())
    if size > max_bytes:
        raise param_error(path, label, f"字符串规则校验失败，字节数 {size}，大于最大值 {max_bytes}", value, location)
    if pattern is not None and not pattern.match(value):
        raise param_error(path, label, "字符串规则校验失败，字符串不符合格式要求", value, location)
    return value


def integer(body: dict[str, Any], path: str, label: str, minimum: int = 1) -> int:
    value = lookup(body, path)
    if value is MISSING or value is None:
        raise required(path, label)
    if isinstance(value, bool) or not isinstance(value, int):
        raise param_error(path, label, "类型规则校验失败，应为整数", value)
    if value < minimum:
        raise param_error(path, label, f"数值规则校验失败，值 {value}，小于最小值 {minimum}", value)
    return value


def currency(body: dict[str, Any], path: str, *, optional: bool) -> str:
    value = string(body, path, "货币类型", 16, optional=optional) or "CNY"
    if value != "CNY":
        raise param_error(path, "货币类型", "枚举规则校验失败，只支持CNY", value)
    return value


def notify_url(body: dict[str, Any], settings: PaySettings, *, optional: bool) -> str | None:
    url = string(body, "/notify_url", "通知地址", 255, optional=optional)
    if url is None:
        return None
    parts = urlsplit(url)
    plain_http_allowed = parts.scheme == "http" and (parts.hostname or "") in settings.http_notify_hosts
    if parts.scheme != "https" and not plain_http_allowed:
        raise param_error("/notify_url", "通知地址", "字符串规则校验失败，通知地址必须以https://开头", url)
    if not parts.hostname or parts.query or parts.fragment:
        raise param_error("/notify_url", "通知地址", "字符串规则校验失败，通知地址不能携带参数", url)
    return url


def jsapi_order(body: dict[str, Any], mchid: str, settings: PaySettings, now: float) -> dict[str, Any]:
    """The order fields of ``POST /v3/pay/transactions/jsapi``, normalised (PayApiError otherwise)."""
    string(body, "/appid", "应用ID", 32)
    body_mchid = string(body, "/mchid", "直连商户号", 32)
    string(body, "/description", "商品描述", 127)
    string(body, "/out_trade_no", "商户订单号", 32)
    if not OUT_TRADE_NO.match(body["out_trade_no"]):
        raise param_error("/out_trade_no", "商户订单号", "字符串规则校验失败，应为6-32位数字、大小写字母或_-|*",
                          body["out_trade_no"])
    string(body, "/attach", "附加数据", 128, optional=True)
    url = notify_url(body, settings, optional=False)
    if not isinstance(body.get("amount"), dict):
        raise required("/amount", "订单金额")
    total = integer(body, "/amount/total", "总金额")
    money = currency(body, "/amount/currency", optional=True)
    if not isinstance(body.get("payer"), dict):
        raise required("/payer", "支付者")
    string(body, "/payer/openid", "用户标识", 128)
    expire_at = None
    time_expire = string(body, "/time_expire", "交易结束时间", 64, optional=True)
    if time_expire is not None:
        try:
            expire_at = parse_rfc3339(time_expire)
        except ValueError:
            raise param_error("/time_expire", "交易结束时间", "时间格式规则校验失败，应为yyyy-MM-DDTHH:mm:ss+TIMEZONE",
                              time_expire) from None
        if expire_at <= now:
            raise param_error("/time_expire", "交易结束时间", "时间规则校验失败，不能早于当前时间", time_expire)
    if body_mchid != mchid:
        raise PayApiError("PARAM_ERROR", "请求参数mchid与Authorization中的商户号不一致")
    return {**body, "notify_url": url, "amount": {"total": total, "currency": money}, "time_expire_at": expire_at}


def refund_request(body: dict[str, Any], settings: PaySettings) -> dict[str, Any]:
    """The fields of ``POST /v3/refund/domestic/refunds``, normalised (PayApiError otherwise)."""
    string(body, "/out_refund_no", "商户退款单号", 64, pattern=OUT_REFUND_NO)
    transaction_id = string(body, "/transaction_id", "微信支付订单号", 32, optional=True, pattern=TRANSACTION_ID)
    out_trade_no = string(body, "/out_trade_no", "商户订单号", 32, optional=True)
    if transaction_id is None and out_trade_no is None:
        raise PayApiError("PARAM_ERROR", "transaction_id和out_trade_no必须二选一进行传参")
    string(body, "/reason", "退款原因", 80, optional=True)
    url = notify_url(body, settings, optional=True)
    if not isinstance(body.get("amount"), dict):
        raise required("/amount", "金额信息")
    amount = {
        "refund": integer(body, "/amount/refund", "退款金额"),
        "total": integer(body, "/amount/total", "原订单金额"),
        "currency": currency(body, "/amount/currency", optional=False),
    }
    return {**body, "transaction_id": transaction_id, "out_trade_no": None if transaction_id else out_trade_no,
            "notify_url": url, "amount": amount}
