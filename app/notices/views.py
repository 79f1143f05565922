"""``/api/v1/me/notices``: the notices the mini-program shows on its next opening, and marking one read."""

from __future__ import annotations

from flask import Blueprint
from flask_login import current_user

from app.accounts.auth import login_required
from app.core.api import API_PREFIX, endpoint
from app.core.pagination import InvalidCursor, PageQuery
from app.core.transaction import transactional

from . import services
from .schemas import MyNoticeOut, MyNoticesOut, my_notice_out

bp = Blueprint("notices", __name__, url_prefix=API_PREFIX)
TAGS = ("notices",)


@bp.get("/me/notices")
@login_required
@endpoint("My notices (incidents, company transfer, shutdown), newest first, with the unread count",
          response=MyNoticesOut, query=PageQuery, auth=True, tags=TAGS, errors=[InvalidCursor])
def my_notices(query: PageQuery):
    page, next_cursor, unread = services.inbox(current_user.id, query)
    return MyNoticesOut(unread=unread, notices=[my_notice_out(d, n) for d, n in page], next_cursor=next_cursor)


@bp.post("/me/notices/<notice_id>/read")
@login_required
@endpoint("Mark one of my notices read", response=MyNoticeOut, auth=True, tags=TAGS, errors=[(404, "notice_not_found")],
          description="Errors: notice_not_found.")
@transactional
def mark_read(notice_id: str):
    delivery = services.mark_read(current_user.id, notice_id)
    return my_notice_out(delivery, delivery.notice)
