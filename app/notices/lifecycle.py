"""The notices domain's part of a person's data lifecycle (app.core.lifecycle): what they were told is in
"what we hold" and their export, and their deliveries go with their account (the notice itself keeps only
counts, so what was announced stays provable without the people)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select

from app.core.chinatime import format_beijing
from app.core.i18n import _l
from app.core.lifecycle import ExportArchive, Holding, Lifecycle, Processing, ts
from app.extensions import db

from .models import Notice, NoticeDelivery

RETENTION = _l("Until you cancel the account")


def holdings(user_id: int) -> list[Holding]:
    count = db.session.scalar(select(func.count()).select_from(NoticeDelivery)
                              .where(NoticeDelivery.user_id == user_id)) or 0
    return [Holding("notices", count, RETENTION)]


def notices_of(user_id: int) -> list[dict[str, Any]]:
    """Export (``notices.json``): every notice recorded for the user, what it said, and when and how each
    channel told them (UTC instants, plus the Beijing time it was recorded for reading)."""
    rows = db.session.execute(select(NoticeDelivery, Notice).join(Notice).where(NoticeDelivery.user_id == user_id)
                              .order_by(NoticeDelivery.id)).tuples()
    return [{
        "id": notice.public_id, "kind": notice.kind, "title": notice.title, "body": notice.body,
        "recorded_at": ts(delivery.created_at), "recorded_at_beijing": format_beijing(delivery.created_at),
        "read_at": ts(delivery.read_at),
        "wechat": {"status": delivery.wechat_status, "at": ts(delivery.wechat_at)},
        "sms": {"status": delivery.sms_status, "at": ts(delivery.sms_at)},
    } for delivery, notice in rows]


def export(user_id: int, archive: ExportArchive) -> None:
    notices = notices_of(user_id)
    archive.add_json("notices.json", "notices", {"notices": notices}, records=len(notices))


def erase_user(user_id: int, reason: str = "account_cancelled") -> int:
    """Delete the user's deliveries (cancellation), in the caller's transaction, before the account row goes
    (ON DELETE CASCADE would too; deleting them here keeps the erase explicit and countable)."""
    return db.session.execute(delete(NoticeDelivery).where(NoticeDelivery.user_id == user_id)).rowcount


def lifecycle() -> Lifecycle:
    return Lifecycle(
        domain="notices", holdings=holdings, export=export, erase=erase_user, erase_order=40,
        processing=(Processing("向您发送通知（个人信息安全事件、合并或转让、停止运营等）",
                               "履行法定义务（《个人信息保护法》第二十二条、第五十七条）",
                               "通知内容与送达记录（是否已读、微信与短信的发送结果）；发送时使用微信 openid 或手机号，"
                               "不另行保存",
                               "直至您注销账号",
                               "微信订阅消息（深圳市腾讯计算机系统有限公司）；短信服务商"),))
