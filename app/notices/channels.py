"""The channels beyond the in-app notice: a WeChat subscribe message where the user allowed one, SMS otherwise.

Each function makes one attempt and answers its outcome (never raises): the delivery row records it.
"""

from __future__ import annotations

import logging

from flask import current_app

from app.accounts import services as accounts
from app.accounts import sms
from app.core.chinatime import format_beijing

from .models import Notice

log = logging.getLogger(__name__)

SUBSCRIBE_SEND_PATH = "cgi-bin/message/subscribe/send"
USER_REFUSED = 43101  # the user has not allowed this template (or used up the allowance)
DEVELOPMENT_TEMPLATE = "notice-template"
THING_MAX = 20  # WeChat's limit for a "thing" value, in characters
SMS_BODY_MAX = 180


def template_id() -> str | None:
    """``SUBSCRIBE_TEMPLATE_NOTICE`` (the sandbox's ``notice-template`` in development); unset: no message."""
    return current_app.config.get("SUBSCRIBE_TEMPLATE_NOTICE") or None


def notice_page(notice: Notice) -> str:
    return f"pages/notices/index?id={notice.public_id}"


def _thing(text: str) -> str:
    return text if len(text) <= THING_MAX else text[:THING_MAX - 1] + "…"


def subscribe_message(notice: Notice, openid: str, template: str) -> dict:
    return {
        "touser": openid, "template_id": template, "page": notice_page(notice),
        "miniprogram_state": current_app.config.get("SUBSCRIBE_MINIPROGRAM_STATE") or "developer",
        "lang": "zh_CN",
        "data": {"thing1": {"value": _thing(notice.title)}, "thing2": {"value": _thing(notice.body)},
                 "time3": {"value": format_beijing(notice.send_requested_at)}},
    }


def send_wechat(notice: Notice, user_id: int) -> str:
    """``sent``, ``not_subscribed`` (43101), ``no_template``, ``no_openid`` or ``failed``."""
    from app.core.wechat import WeChatError, WeChatUnavailable, mini_program_client

    template = template_id()
    if not template:
        return "no_template"
    try:
        openid = accounts.subscribe_openid(user_id)
        if openid is None:
            return "no_openid"
        mini_program_client()._send("post", SUBSCRIBE_SEND_PATH, data=subscribe_message(notice, openid, template))
    except WeChatError as exc:
        if exc.errcode == USER_REFUSED:
            return "not_subscribed"
        log.warning("notice subscribe message refused", extra={"notice": notice.public_id, "errcode": exc.errcode})
        return "failed"
    except WeChatUnavailable:
        log.warning("notice subscribe message not sent: WeChat unavailable", extra={"notice": notice.public_id})
        return "failed"
    except Exception:
        log.warning("notice subscribe message failed", extra={"notice": notice.public_id}, exc_info=True)
        return "failed"
    return "sent"


def sms_text(notice: Notice) -> str:
    body = notice.body if len(notice.body) <= SMS_BODY_MAX else notice.body[:SMS_BODY_MAX - 1] + "…"
    return f"【秒画】{notice.title}：{body} 详情请打开秒画小程序查看。"


def send_sms(notice: Notice, user_id: int) -> str:
    """``sent``, ``no_phone``, ``unavailable`` (no provider) or ``failed``."""
    try:
        phone = accounts.phone_for_notice(user_id)
        if phone is None:
            return "no_phone"
        sms.send_notice(phone, sms_text(notice))
    except sms.SmsUnavailable:
        return "unavailable"
    except Exception:
        log.warning("notice sms failed", extra={"notice": notice.public_id}, exc_info=True)
        return "failed"
    return "sent"
