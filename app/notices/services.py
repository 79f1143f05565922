"""Write a notice, send it once, deliver it (resumably), and show it to its users."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from flask_babel.speaklater import LazyString
from sqlalchemy import func, select, update

from app.accounts import services as accounts
from app.core import ratelimit
from app.core.db import utcnow
from app.core.errors import NotFound, ValidationFailed
from app.core.i18n import _l
from app.core.jobs import enqueue_now, redis_connection, require_queue
from app.extensions import db

from . import audience, channels
from .models import Audience, DataClass, Notice, NoticeDelivery, NoticeKind, NoticeStatus

log = logging.getLogger(__name__)

TITLE_MAX, BODY_MAX, USERS_MAX = 40, 2000, 1000


class NoticeNotFound(NotFound):
    code, message = "notice_not_found", "No such notice."


def _invalid(field: str, message: str | LazyString, kind: str = "invalid") -> ValidationFailed:
    return ValidationFailed(details={"fields": [{"field": field, "location": "body", "type": kind,
                                                 "message": message}]})


# --- writing ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Draft:
    kind: str
    title: str
    body: str
    audience: str
    data_class: str | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    user_ids: tuple[str, ...] = ()


def _check(draft: Draft) -> None:
    if draft.kind not in set(NoticeKind):
        raise _invalid("kind", _l("One of: %(values)s", values=", ".join(NoticeKind)))
    if not 1 <= len(draft.title.strip()) <= TITLE_MAX:
        raise _invalid("title", _l("1 to %(max)s characters", max=TITLE_MAX))
    if not 1 <= len(draft.body.strip()) <= BODY_MAX:
        raise _invalid("body", _l("1 to %(max)s characters", max=BODY_MAX))
    if draft.audience not in set(Audience):
        raise _invalid("audience", _l("One of: %(values)s", values=", ".join(Audience)))
    if draft.audience == Audience.DATA_CLASS:
        if draft.data_class not in set(DataClass):
            raise _invalid("data_class", _l("One of: %(values)s", values=", ".join(DataClass)))
        if draft.window_start is None or draft.window_end is None or draft.window_start.tzinfo is None \
                or draft.window_end.tzinfo is None or draft.window_start >= draft.window_end:
            raise _invalid("window_end", "a window: window_start before window_end, both with a time zone")
    elif draft.data_class or draft.window_start or draft.window_end:
        raise _invalid("data_class", "only for the data_class audience")
    if draft.audience == Audience.USERS:
        if not 1 <= len(set(draft.user_ids)) <= USERS_MAX:
            raise _invalid("user_ids", _l("1 to %(max)s user ids", max=USERS_MAX))
        unknown = sorted(set(draft.user_ids) - set(accounts.user_ids_for_public_ids(list(set(draft.user_ids)))))
        if unknown:
            raise ValidationFailed("Some of these users do not exist.", code="notice_unknown_users",
                                   details={"unknown": unknown[:50]})
    elif draft.user_ids:
        raise _invalid("user_ids", "only for the users audience")


def create(draft: Draft, staff_id: int | None) -> Notice:
    """A draft notice (nothing is sent yet); the caller commits, with its audit entry."""
    _check(draft)
    notice = Notice(kind=draft.kind, title=draft.title.strip(), body=draft.body.strip(), audience=draft.audience,
                    data_class=draft.data_class, window_start=draft.window_start, window_end=draft.window_end,
                    user_ids=sorted(set(draft.user_ids)) or None, created_by_staff_id=staff_id)
    db.session.add(notice)
    db.session.flush()
    return notice


def find(public_id: str, *, for_update: bool = False) -> Notice:
    query = select(Notice).where(Notice.public_id == public_id)
    notice = db.session.scalar(query.with_for_update() if for_update else query)
    if notice is None:
        raise NoticeNotFound()
    return notice


def recent(limit: int = 100) -> list[Notice]:
    return list(db.session.scalars(select(Notice).order_by(Notice.id.desc()).limit(limit)))


def job_id_for(notice: Notice) -> str:
    return f"notice-{notice.public_id}"


def send(notice: Notice, staff_id: int | None, *, limit_subject: str | None) -> bool:
    """Start sending (the RQ job does the work); the caller commits. Idempotent: a notice is sent once — asking
    again for one that is sending re-queues the job (it resumes where it stopped), for one already sent does
    nothing. Returns whether this call started the sending. Rate limited per staff member (or CLI user)."""
    if notice.status == NoticeStatus.SENT:
        return False
    require_queue()
    if notice.status == NoticeStatus.DRAFT:
        ratelimit.enforce(ratelimit.Rule("notices:send", limit_subject, current_app.config["NOTICE_SEND_RATE_LIMIT"]),
                          message="Too many notices sent; wait before sending another.")
    from .tasks import send_notice

    started = notice.status == NoticeStatus.DRAFT
    if started:
        notice.status, notice.send_requested_at, notice.sent_by_staff_id = NoticeStatus.SENDING, utcnow(), staff_id
    notice.rq_job_id = send_notice.enqueue_after_commit(notice.id, job_id=job_id_for(notice))
    return started


# --- delivering (the job) -----------------------------------------------------------------------------

def deliver(notice_id: int) -> dict[str, int]:
    """Record every recipient, then tell each one through the channels they allowed. Safe to run again at any
    point: recipients already recorded are not added twice, channels already tried are not tried again, and a
    call a crash interrupted (``sending``) is marked ``unknown`` rather than repeated."""
    notice = db.session.get(Notice, notice_id)
    if notice is None or notice.status != NoticeStatus.SENDING:
        return {"delivered": 0}
    batch_size = current_app.config["NOTICE_BATCH_SIZE"]
    if notice.recipients_resolved_at is None:
        _record_recipients(notice, batch_size)
    for column in (NoticeDelivery.wechat_status, NoticeDelivery.sms_status):
        db.session.execute(update(NoticeDelivery).where(NoticeDelivery.notice_id == notice.id, column == "sending")
                           .values({column: "unknown"}))
    db.session.commit()
    delivered = 0
    while batch := list(db.session.scalars(select(NoticeDelivery.id).where(
            NoticeDelivery.notice_id == notice.id, NoticeDelivery.done_at.is_(None))
            .order_by(NoticeDelivery.id).limit(batch_size))):
        for delivery_id in batch:
            _deliver_one(notice, delivery_id)
            delivered += 1
    notice.status, notice.finished_at = NoticeStatus.SENT, utcnow()
    db.session.commit()
    log.info("notice sent", extra={"notice": notice.public_id, "recipients": notice.recipients,
                                   "wechat": notice.wechat_sent, "sms": notice.sms_sent})
    return {"delivered": delivered}


def _record_recipients(notice: Notice, batch_size: int) -> None:
    now = utcnow()
    for ids in audience.recipient_batches(notice, batch_size):
        known = set(db.session.scalars(select(NoticeDelivery.user_id).where(
            NoticeDelivery.notice_id == notice.id, NoticeDelivery.user_id.in_(ids))))
        db.session.add_all(NoticeDelivery(notice_id=notice.id, user_id=uid, created_at=now)
                           for uid in ids if uid not in known)
        db.session.commit()  # a crash here resumes with the next batch
    notice.recipients = db.session.scalar(select(func.count()).select_from(NoticeDelivery)
                                          .where(NoticeDelivery.notice_id == notice.id)) or 0
    notice.recipients_resolved_at = utcnow()
    db.session.commit()


def _claim(delivery_id: int, column) -> bool:
    """Mark one channel ``sending`` and commit before calling out: at most one call per channel, ever."""
    claimed = db.session.execute(update(NoticeDelivery).where(NoticeDelivery.id == delivery_id, column.is_(None))
                                 .values({column: "sending"})).rowcount
    db.session.commit()
    return bool(claimed)


def _deliver_one(notice: Notice, delivery_id: int) -> None:
    delivery = db.session.get(NoticeDelivery, delivery_id)
    if delivery.wechat_status is None and _claim(delivery_id, NoticeDelivery.wechat_status):
        outcome = channels.send_wechat(notice, delivery.user_id)
        delivery.wechat_status, delivery.wechat_at = outcome, utcnow()
        if outcome == "sent":
            notice.wechat_sent = Notice.wechat_sent + 1
        db.session.commit()
    if delivery.sms_status is None:
        if delivery.wechat_status == "sent":
            delivery.sms_status = "not_needed"
        elif _claim(delivery_id, NoticeDelivery.sms_status):
            outcome = channels.send_sms(notice, delivery.user_id)
            delivery.sms_status, delivery.sms_at = outcome, utcnow()
            if outcome == "sent":
                notice.sms_sent = Notice.sms_sent + 1
    delivery.done_at = utcnow()
    db.session.commit()
    db.session.refresh(notice)


def resume_stalled() -> int:
    """Re-queue every notice still ``sending`` whose job is no longer queued or running (a worker died, the job
    failed or timed out); the job resumes where it stopped. The periodic ``notices.resume`` runs this."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    from .tasks import send_notice

    resumed = 0
    for notice in db.session.scalars(select(Notice).where(Notice.status == NoticeStatus.SENDING)):
        try:
            state = Job.fetch(job_id_for(notice), connection=redis_connection()).get_status()
        except NoSuchJobError:
            state = None
        if state in ("queued", "started", "deferred", "scheduled"):
            continue
        enqueue_now(send_notice, notice.id, job_id=job_id_for(notice))
        resumed += 1
    if resumed:
        log.warning("stalled notices re-queued", extra={"count": resumed})
    return resumed


def progress(notice: Notice) -> dict[str, int]:
    done = db.session.scalar(select(func.count()).select_from(NoticeDelivery).where(
        NoticeDelivery.notice_id == notice.id, NoticeDelivery.done_at.is_not(None))) or 0
    return {"recipients": notice.recipients, "done": done, "wechat_sent": notice.wechat_sent,
            "sms_sent": notice.sms_sent}


# --- the user's side ------------------------------------------------------------------------------------

def inbox(user_id: int, page) -> tuple[list[tuple[NoticeDelivery, Notice]], str | None, int]:
    """One page of the user's notices, newest first (each in the app from the moment it was recorded for
    them), the next cursor, and how many of all of them are unread."""
    from sqlalchemy import func

    from app.core.pagination import paginate

    deliveries, next_cursor = paginate(select(NoticeDelivery).where(NoticeDelivery.user_id == user_id), page,
                                       NoticeDelivery.id.desc())
    unread = db.session.scalar(select(func.count()).select_from(NoticeDelivery).where(
        NoticeDelivery.user_id == user_id, NoticeDelivery.read_at.is_(None)))
    return [(delivery, delivery.notice) for delivery in deliveries], next_cursor, unread or 0


def mark_read(user_id: int, public_id: str) -> NoticeDelivery:
    """The request boundary commits (``app.core.transaction``)."""
    delivery = db.session.scalar(select(NoticeDelivery).join(Notice).where(
        NoticeDelivery.user_id == user_id, Notice.public_id == public_id))
    if delivery is None:
        raise NoticeNotFound()
    delivery.read_at = delivery.read_at or utcnow()
    db.session.flush()
    return delivery
