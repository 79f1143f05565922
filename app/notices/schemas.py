from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .labels import notice_kind_label
from .models import Notice, NoticeDelivery


class MyNoticeOut(BaseModel):
    id: str
    kind: str = Field(description="incident, company_transfer, shutdown or service")
    kind_text: str = Field(description="The kind in the request's language (zh-CN by default), e.g. 安全事件")
    title: str
    body: str
    at: datetime = Field(description="When it was recorded for you (UTC)")
    at_beijing: str = Field(description="The same, as shown to the user: Beijing time, YYYY-MM-DD HH:MM")
    read: bool


class MyNoticesOut(BaseModel):
    unread: int = Field(description="How many the mini-program should show on opening (of all, not this page)")
    notices: list[MyNoticeOut]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null on the last page")


class NoticeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["incident", "company_transfer", "shutdown", "service"]
    title: str = Field(min_length=1, max_length=40)
    body: str = Field(min_length=1, max_length=2000)
    audience: Literal["all", "data_class", "users"]
    data_class: Literal["uploads", "results", "orders", "phone"] | None = None
    window_start: datetime | None = Field(default=None, description="With a time zone; data_class audience only")
    window_end: datetime | None = None
    user_ids: list[str] = Field(default_factory=list, max_length=1000, description="users audience only")


class NoticeOut(BaseModel):
    id: str
    kind: str
    title: str
    body: str
    audience: str
    data_class: str | None
    window_start: datetime | None
    window_end: datetime | None
    user_ids: list[str]
    status: str = Field(description="draft, sending or sent")
    created_at: datetime
    send_requested_at: datetime | None
    finished_at: datetime | None
    recipients: int
    done: int
    wechat_sent: int
    sms_sent: int


class NoticesOut(BaseModel):
    notices: list[NoticeOut]


def notice_out(notice: Notice, progress: dict[str, int]) -> NoticeOut:
    return NoticeOut(id=notice.public_id, kind=notice.kind, title=notice.title, body=notice.body,
                     audience=notice.audience, data_class=notice.data_class, window_start=notice.window_start,
                     window_end=notice.window_end, user_ids=list(notice.user_ids or []), status=notice.status,
                     created_at=notice.created_at, send_requested_at=notice.send_requested_at,
                     finished_at=notice.finished_at, **progress)


def my_notice_out(delivery: NoticeDelivery, notice: Notice) -> MyNoticeOut:
    from app.core.chinatime import format_beijing

    return MyNoticeOut(id=notice.public_id, kind=notice.kind, kind_text=notice_kind_label(notice.kind),
                       title=notice.title, body=notice.body,
                       at=delivery.created_at, at_beijing=format_beijing(delivery.created_at),
                       read=delivery.read_at is not None)
