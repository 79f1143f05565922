"""``/api/v1/me/notices``: the notices the mini-program shows on its next opening, and marking one read."""

from __future__ import annotations

from flask import Blueprint
from flask_login import current_user

from app.accounts.auth import login_required
from app.core.api import API_PREFIX, endpoint

from . import services
from .schemas import MyNoticeOut, MyNoticesOut, my_notice_out

bp = Blueprint("notices", __name__, url_prefix=API_PREFIX)
TAGS = ("notices",)


@bp.get("/me/notices")
@login_required
@endpoint("My notices (incidents, company transfer, shutdown), newest first, with the unread count",
          response=MyNoticesOut, auth=True, tags=TAGS)
def my_notices():
    found = [my_notice_out(d, n) for d, n in services.inbox(current_user.id)]
    return MyNoticesOut(unread=sum(not n.read for n in found), notices=found)


@bp.post("/me/notices/<notice_id>/read")
@login_required
@endpoint("Mark one of my notices read", response=MyNoticeOut, auth=True, tags=TAGS, errors=[404],
          description="Errors: notice_not_found.")
def mark_read(notice_id: str):
    delivery = services.mark_read(current_user.id, notice_id)
    return my_notice_out(delivery, delivery.notice)
