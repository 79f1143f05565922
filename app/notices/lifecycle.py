"""The notices domain's part of a person's data lifecycle: what they were told goes into their export, and
their deliveries go with their account (the notice itself keeps only counts)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import delete, select

from app.core import events
from app.core.chinatime import format_beijing
from app.extensions import db

from .models import Notice, NoticeDelivery


def notices_of(user_id: int) -> list[dict[str, Any]]:
    """Export (``notices.json``): every notice recorded for the user, what it said, and when and how each
    channel told them (UTC instants, plus the Beijing time it was recorded for reading)."""
    from app.privacy.export import ts

    rows = db.session.execute(select(NoticeDelivery, Notice).join(Notice).where(NoticeDelivery.user_id == user_id)
                              .order_by(NoticeDelivery.id)).tuples()
    return [{
        "id": notice.public_id, "kind": notice.kind, "title": notice.title, "body": notice.body,
        "recorded_at": ts(delivery.created_at), "recorded_at_beijing": format_beijing(delivery.created_at),
        "read_at": ts(delivery.read_at),
        "wechat": {"status": delivery.wechat_status, "at": ts(delivery.wechat_at)},
        "sms": {"status": delivery.sms_status, "at": ts(delivery.sms_at)},
    } for delivery, notice in rows]


def erase_user(user_id: int) -> int:
    """Delete the user's deliveries (cancellation); in the caller's transaction."""
    return db.session.execute(delete(NoticeDelivery).where(NoticeDelivery.user_id == user_id)).rowcount


def _on_account_cancelled(sender: Flask, user_id: int, **_: Any) -> None:
    erase_user(user_id)


def connect() -> None:
    events.account_cancelled.connect(_on_account_cancelled, weak=False)
