"""Tell the user a job finished: a WeChat subscribe message (``/cgi-bin/message/subscribe/send``).

Best effort, after the job's transaction committed, never able to fail the job:
- template ``SUBSCRIBE_TEMPLATE_JOB_DONE`` (unset or empty: no message); data ``thing1`` style name, ``phrase2``
  完成/失败, ``time3`` finish time (China time); ``page`` opens the job in the mini-program;
  ``miniprogram_state`` from ``SUBSCRIBE_MINIPROGRAM_STATE`` (``developer`` by default);
- sent to the user's openid for the configured mini-program (decrypted only for the call); a user who signed in
  without WeChat gets nothing;
- the user must have allowed the template in the mini-program (each "allow" is good for one message): WeChat's
  43101 (not allowed, or used up) is the normal case of a user who did not opt in — logged at info, not an error;
- any other WeChat failure (down, timeout, another error code) is logged as a warning and swallowed.
Logs carry the job id and WeChat's error code, never the openid or the user.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta, timezone

from flask import current_app

from app.core.i18n import DEFAULT_LOCALE, _l, force_locale
from app.extensions import db

from .labels import style_name
from .models import GenerationJob, JobStatus

log = logging.getLogger(__name__)

SUBSCRIBE_SEND_PATH = "cgi-bin/message/subscribe/send"
USER_REFUSED = 43101  # the user has not allowed this template (or used up the allowance)
DEVELOPMENT_TEMPLATE = "job-done-template"
CHINA_TIME = timezone(timedelta(hours=8), "CST")  # no daylight saving: a fixed offset is exact
NOTIFIED_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED)
# WeChat's "phrase" value: at most 5 characters (zh_CN catalog: 完成 / 失败).
PHRASES = {JobStatus.SUCCEEDED: _l("Done"), JobStatus.FAILED: _l("Failed")}
THING_MAX = 20  # WeChat's limit for a "thing" value, in characters


def template_id() -> str | None:
    """``SUBSCRIBE_TEMPLATE_JOB_DONE``; until config.py declares it, development and tests use the sandbox's
    ``job-done-template`` and production sends nothing."""
    config = current_app.config
    if "SUBSCRIBE_TEMPLATE_JOB_DONE" in config:
        return config["SUBSCRIBE_TEMPLATE_JOB_DONE"] or None
    return None if config.get("ENV_NAME") == "production" else DEVELOPMENT_TEMPLATE


def job_page(job: GenerationJob) -> str:
    return f"pages/job/index?id={job.public_id}"


def message_for(job: GenerationJob, openid: str, template: str) -> dict:
    from . import services

    spec = services.style(job.style_id)
    with force_locale(DEFAULT_LOCALE):  # the template is registered in Chinese ("lang": "zh_CN" below)
        name = style_name(spec)[:THING_MAX]
        phrase = str(PHRASES[JobStatus(job.status)])
    finished = job.finished_at or datetime.now(UTC)
    if finished.tzinfo is None:
        finished = finished.replace(tzinfo=UTC)
    return {
        "touser": openid,
        "template_id": template,
        "page": job_page(job),
        "miniprogram_state": current_app.config.get("SUBSCRIBE_MINIPROGRAM_STATE") or "developer",
        "lang": "zh_CN",
        "data": {
            "thing1": {"value": name},
            "phrase2": {"value": phrase},
            "time3": {"value": finished.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M")},
        },
    }


def _openid(job: GenerationJob) -> str | None:
    from app.accounts.services import openid_of

    return openid_of(job.user_id, appid=current_app.config["WECHAT_APPID"])


def job_finished(job: GenerationJob) -> str:
    """Send the "job done" message for a succeeded or failed job. Never raises; returns what happened:
    ``sent``, ``not_subscribed`` (43101), ``no_template``, ``no_openid``, ``skipped`` (another status) or
    ``failed``."""
    try:
        if job.status not in NOTIFIED_STATUSES:
            return "skipped"
        template = template_id()
        if not template:
            return "no_template"
        openid = _openid(job)
        if openid is None:
            return "no_openid"
        return _send(job, message_for(job, openid, template))
    except Exception:  # best effort: nothing here may fail the job that already ended
        log.warning("job notification failed", extra={"job": job.public_id}, exc_info=True)
        return "failed"
    finally:
        db.session.rollback()  # only reads happened; end that transaction (the job was committed before)


def _send(job: GenerationJob, message: dict) -> str:
    from app.core.wechat import WeChatError, WeChatUnavailable, mini_program_client

    try:
        mini_program_client()._send("post", SUBSCRIBE_SEND_PATH, data=message)
    except WeChatError as exc:
        if exc.errcode == USER_REFUSED:
            log.info("job notification not sent: the user has not subscribed", extra={"job": job.public_id})
            return "not_subscribed"
        log.warning("job notification refused by WeChat", extra={"job": job.public_id, "errcode": exc.errcode})
        return "failed"
    except WeChatUnavailable as exc:
        log.warning("job notification not sent: WeChat unavailable", extra={"job": job.public_id,
                                                                            "error": str(exc)[:120]})
        return "failed"
    log.info("job notification sent", extra={"job": job.public_id, "status": job.status})
    return "sent"
