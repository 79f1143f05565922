"""Staff API ``/admin/api/notices``: write a notice, send it to the users it concerns, follow its progress.

Every action needs ``notices.send`` and is audit-logged; sending is rate limited and idempotent (services).
"""

from __future__ import annotations

from flask import Blueprint

from app.core.api import endpoint
from app.staff import audit
from app.staff.auth import STAFF_API_PREFIX, current_staff, staff_required
from app.staff.permissions import Permission

from . import services
from .schemas import NoticeIn, NoticeOut, NoticesOut, notice_out

bp = Blueprint("admin_notices", __name__, url_prefix=STAFF_API_PREFIX)
TAGS = ("staff",)


def _out(notice) -> NoticeOut:
    return notice_out(notice, services.progress(notice))


@bp.get("/notices")
@staff_required(Permission.NOTICES_SEND)
@endpoint("Notices, newest first, with their progress", response=NoticesOut, tags=TAGS, errors=[401, 403])
def list_notices():
    return NoticesOut(notices=[_out(n) for n in services.recent()])


@bp.post("/notices")
@staff_required(Permission.NOTICES_SEND)
@endpoint("Write a notice (a draft: nothing is sent yet)", body=NoticeIn, response=NoticeOut, status=201,
          tags=TAGS, errors=[401, 403, 422],
          description="Errors: validation_error, notice_unknown_users (details.unknown lists them).")
def create_notice(body: NoticeIn):
    draft = services.Draft(kind=body.kind, title=body.title, body=body.body, audience=body.audience,
                           data_class=body.data_class, window_start=body.window_start, window_end=body.window_end,
                           user_ids=tuple(body.user_ids))
    notice = services.create(draft, current_staff().id)
    audit.record("notices.create", "notice", notice.public_id,
                 details={"kind": notice.kind, "audience": notice.audience, "data_class": notice.data_class,
                          "users": len(notice.user_ids or [])})
    return _out(notice)


@bp.get("/notices/<public_id>")
@staff_required(Permission.NOTICES_SEND)
@endpoint("One notice and its progress", response=NoticeOut, tags=TAGS, errors=[401, 403, 404],
          description="Errors: notice_not_found.")
def get_notice(public_id: str):
    return _out(services.find(public_id))


@bp.post("/notices/<public_id>/send")
@staff_required(Permission.NOTICES_SEND)
@endpoint("Send a notice to everyone it concerns (an RQ job; idempotent)", response=NoticeOut, status=202,
          tags=TAGS, errors=[401, 403, 404, 429, 503],
          description="A notice is sent once: sending it again resumes an interrupted sending and tells nobody "
                      "twice. Errors: notice_not_found, rate_limited, queue_unavailable.")
def send_notice(public_id: str):
    notice = services.find(public_id, for_update=True)
    staff = current_staff()
    status_before = notice.status
    started = services.send(notice, staff.id, limit_subject=f"staff:{staff.id}")
    if status_before != "sent":
        audit.record("notices.send", "notice", notice.public_id,
                     details={"kind": notice.kind, "resumed": not started})
    return _out(notice)
