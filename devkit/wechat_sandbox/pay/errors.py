"""WeChat Pay v3 error answers: HTTP status + ``{"code", "message"[, "detail"]}``, as WeChat sends them.

The codes and statuses are those of WeChat's API tables (JSAPI order, query, close, refund) and of
answers developers report (``INVALID_REQUEST`` "201 商户订单号重复", ``RESOURCE_NOT_EXISTS`` "退款单不存在").
Clients must branch on the HTTP status and ``code``; the Chinese messages are for people.
"""

from __future__ import annotations

from typing import Any

STATUS_BY_CODE: dict[str, int] = {
    "PARAM_ERROR": 400,
    "INVALID_REQUEST": 400,
    "APPID_MCHID_NOT_MATCH": 400,
    "MCH_NOT_EXISTS": 400,
    "ORDERPAID": 400,
    "ORDER_CLOSED": 400,
    "SIGN_ERROR": 401,
    "NO_AUTH": 403,
    "NOT_ENOUGH": 403,
    "OUT_TRADE_NO_USED": 403,
    "RULE_LIMIT": 403,
    "TRADE_ERROR": 403,
    "USER_ACCOUNT_ABNORMAL": 403,
    "ORDER_NOT_EXIST": 404,
    "RESOURCE_NOT_EXISTS": 404,
    "FREQUENCY_LIMITED": 429,
    "SYSTEM_ERROR": 500,
    "BANK_ERROR": 500,
}
DEFAULT_MESSAGES: dict[str, str] = {
    "SYSTEM_ERROR": "系统错误",
    "FREQUENCY_LIMITED": "频率超限",
    "NOT_ENOUGH": "基本账户余额不足，请充值后重新发起",
    "BANK_ERROR": "银行系统异常",
    "NO_AUTH": "商户无权限",
    "RULE_LIMIT": "业务规则限制",
    "TRADE_ERROR": "交易错误",
    "USER_ACCOUNT_ABNORMAL": "退款请求失败",
}
SIGN_ERROR_MESSAGE = "签名错误，请检查后再试"


class PayApiError(Exception):
    """Raised inside the sandbox to answer a ``/v3/`` call with a WeChat Pay error."""

    def __init__(self, code: str, message: str | None = None, detail: dict[str, Any] | None = None,
                 status: int | None = None) -> None:
        self.code = code
        self.message = message or DEFAULT_MESSAGES.get(code, code)
        self.detail = detail
        self.status = status or STATUS_BY_CODE.get(code, 400)
        super().__init__(f"{self.status} {code} {self.message}")

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            body["detail"] = self.detail
        return body


def param_error(path: str, label: str, rule: str, value: Any = None, location: str = "body") -> PayApiError:
    """WeChat's validation message: 输入源“/body/amount/total”映射到值字段“总金额”必填性规则校验失败…"""
    message = f"输入源“/{location}{path}”映射到值字段“{label}”{rule}"
    return PayApiError("PARAM_ERROR", message, {"field": path, "location": location, "value": value})


def required(path: str, label: str, location: str = "body") -> PayApiError:
    return param_error(path, label, "必填性规则校验失败，此字段为必填项", location=location)


def sign_error(issue: str, sign_information: dict[str, Any] | None = None) -> PayApiError:
    """401 SIGN_ERROR with what WeChat tells about the signed message (helps find the difference)."""
    detail: dict[str, Any] = {"detail": {"issue": issue}, "field": "signature", "location": "authorization"}
    if sign_information is not None:
        detail["sign_information"] = sign_information
    return PayApiError("SIGN_ERROR", SIGN_ERROR_MESSAGE, detail)
