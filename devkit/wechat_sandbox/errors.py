"""WeChat's error codes and messages, as ``api.weixin.qq.com`` spells them.

The sandbox answers with the same ``errcode``/``errmsg`` pairs as WeChat so that client code written
against the sandbox branches on the codes it will meet in production.  Like WeChat, every error
message ends with `` rid: <request id>``: clients must branch on ``errcode``, never on the text.
"""

from __future__ import annotations

import secrets
from typing import Any

SYSTEM_ERROR = -1
INVALID_CREDENTIAL = 40001
INVALID_GRANT_TYPE = 40002
INVALID_OPENID = 40003
INVALID_MEDIA_SIZE = 40006
INVALID_APPID = 40013
INVALID_CODE = 40029
INVALID_TEMPLATE_ID = 40037
INVALID_APPSECRET = 40125
CODE_BEEN_USED = 40163
HIGH_RISK_USER = 40226
ACCESS_TOKEN_MISSING = 41001
APPID_MISSING = 41002
APPSECRET_MISSING = 41004
CODE_MISSING = 41008
ACCESS_TOKEN_EXPIRED = 42001
REQUIRE_POST_METHOD = 43002
USER_REFUSED_MESSAGE = 43101
DAILY_QUOTA_REACHED = 45009
MINUTE_QUOTA_REACHED = 45011
DATA_FORMAT_ERROR = 47001
ARGUMENT_INVALID = 47003

ERROR_MESSAGES: dict[int, str] = {
    SYSTEM_ERROR: "system error",
    INVALID_CREDENTIAL: "invalid credential, access_token is invalid or not latest",
    INVALID_GRANT_TYPE: "invalid grant_type",
    INVALID_OPENID: "invalid openid",
    INVALID_MEDIA_SIZE: "invalid media size",
    INVALID_APPID: "invalid appid",
    INVALID_CODE: "invalid code",
    INVALID_TEMPLATE_ID: "invalid template_id",
    INVALID_APPSECRET: "invalid appsecret",
    CODE_BEEN_USED: "code been used",
    HIGH_RISK_USER: "high risk user",
    ACCESS_TOKEN_MISSING: "access_token missing",
    APPID_MISSING: "appid missing",
    APPSECRET_MISSING: "appsecret missing",
    CODE_MISSING: "missing code",
    ACCESS_TOKEN_EXPIRED: "access_token expired",
    REQUIRE_POST_METHOD: "require POST method",
    USER_REFUSED_MESSAGE: "user refuse to accept the msg",
    DAILY_QUOTA_REACHED: "reach max api daily quota limit",
    MINUTE_QUOTA_REACHED: "api minute-quota reach limit  mustslower  retry next minute",
    DATA_FORMAT_ERROR: "data format error",
    ARGUMENT_INVALID: "argument invalid!",
}


def new_request_id() -> str:
    """A WeChat-looking request id (``rid``), so logs of sandbox errors read like production ones."""
    return f"{secrets.token_hex(4)}-{secrets.token_hex(4)}-{secrets.token_hex(4)}"


def error_body(errcode: int, detail: str | None = None) -> dict[str, Any]:
    """The JSON body WeChat sends for ``errcode``; ``detail`` is appended the way WeChat adds hints."""
    message = ERROR_MESSAGES.get(errcode, "system error")
    if detail:
        message = f"{message} {detail}"
    return {"errcode": errcode, "errmsg": f"{message} rid: {new_request_id()}"}


class WeChatApiError(Exception):
    """Raised inside the sandbox to answer a WeChat API call with ``errcode`` (HTTP 200, like WeChat)."""

    def __init__(self, errcode: int, detail: str | None = None) -> None:
        super().__init__(f"{errcode} {ERROR_MESSAGES.get(errcode, '')} {detail or ''}".strip())
        self.errcode = errcode
        self.detail = detail

    def body(self) -> dict[str, Any]:
        """The response body WeChat would send for this error."""
        return error_body(self.errcode, self.detail)
