"""The asynchronous half of ``media_check_async``: download, judge, push the ``wxa_media_check`` event.

WeChat answers ``media_check_async`` at once with a ``trace_id`` and pushes the verdict minutes
later; the sandbox does the same in a daemon thread after ``settings.media_check_delay`` real
seconds.  It really downloads ``media_url`` (so a backend that hands out URLs WeChat cannot fetch is
caught), hashes the bytes, and answers ``risky``/``review`` when the sha256 or a substring of the URL
was registered through the dev API, else ``pass`` (label 100).  A failed download is pushed as
``errcode -1`` / ``suggest review``; a file over ``settings.max_media_bytes`` (10 MB) as
``errcode 40006`` / ``suggest review``: in both cases a human should look, which is what ``review``
tells the backend.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from typing import Any

from devkit.wechat_sandbox import errors, outbound
from devkit.wechat_sandbox.push import deliver_push, encrypt_push
from devkit.wechat_sandbox.records import MediaCheck
from devkit.wechat_sandbox.settings import SandboxApp
from devkit.wechat_sandbox.state import SandboxState

NORMAL_LABEL = 100
UNCERTAIN_LABEL = 21000
DOWNLOAD_CHUNK_BYTES = 64 * 1024
# The verdict when the media could not be judged: a human should look.
UNDECIDED: dict[str, Any] = {"suggest": "review", "label": UNCERTAIN_LABEL, "prob": 0}

logger = logging.getLogger(__name__)


class MediaTooLarge(Exception):
    """The media is bigger than WeChat accepts."""


def download_media(url: str, *, timeout: float, max_bytes: int) -> bytes:
    """Fetch the media like WeChat's crawler: plain GET, HTTP 200 only, at most ``max_bytes``.

    ``SendFailed`` when there is no answer or it is not a 200; ``MediaTooLarge`` beyond ``max_bytes``."""
    try:
        answer = outbound.get_at_most(url, {"User-Agent": "WeChat sandbox"}, timeout=timeout, max_bytes=max_bytes,
                                      chunk_bytes=DOWNLOAD_CHUNK_BYTES)
    except outbound.TooLarge as exc:
        raise MediaTooLarge(str(exc)) from exc
    if answer.status != 200:
        raise outbound.SendFailed("HTTPError", f"HTTP {answer.status}")
    return answer.body


def judge_media(state: SandboxState, check: MediaCheck) -> dict[str, Any]:
    """Download and judge; returns the verdict fields (errcode, suggest, label, prob, sha256, size)."""
    settings = state.settings
    try:
        content = download_media(check.media_url, timeout=settings.download_timeout,
                                 max_bytes=settings.max_media_bytes)
    except MediaTooLarge:
        return {"errcode": errors.INVALID_MEDIA_SIZE, **UNDECIDED}
    except outbound.SendFailed:
        return {"errcode": errors.SYSTEM_ERROR, **UNDECIDED}
    sha256 = hashlib.sha256(content).hexdigest()
    verdict: dict[str, Any] = {"errcode": 0, "sha256": sha256, "size": len(content)}
    match = state.matching_media(check.media_url, sha256)
    if match is None:
        verdict.update(suggest="pass", label=NORMAL_LABEL, prob=90)
    else:
        verdict.update(suggest=match.suggest, label=match.label, prob=90)
    return verdict


def build_event(
    app: SandboxApp, check: MediaCheck, verdict: dict[str, Any], create_time: int
) -> dict[str, Any]:
    """The plaintext ``wxa_media_check`` event, field for field as WeChat documents it."""
    errcode = verdict["errcode"]
    return {
        "ToUserName": app.original_id,
        "FromUserName": check.openid,
        "CreateTime": create_time,
        "MsgType": "event",
        "Event": "wxa_media_check",
        "appid": app.appid,
        "trace_id": check.trace_id,
        "version": 2,
        "detail": [{
            "strategy": "content_model",
            "errcode": errcode,
            "suggest": verdict["suggest"],
            "label": verdict["label"],
            "prob": verdict["prob"],
        }],
        "errcode": errcode,
        "errmsg": errors.ERROR_MESSAGES[errcode] if errcode else "ok",
        "result": {"suggest": verdict["suggest"], "label": verdict["label"]},
    }


def run_media_check(state: SandboxState, app: SandboxApp, check: MediaCheck) -> None:
    """The whole background job; every outcome ends up on the check record for the dev API."""
    settings = state.settings
    if settings.media_check_delay:
        time.sleep(settings.media_check_delay)
    verdict = judge_media(state, check)
    state.update_media_check(
        check,
        sha256=verdict.get("sha256"),
        size=verdict.get("size"),
        errcode=verdict["errcode"],
        suggest=verdict["suggest"],
        label=verdict["label"],
    )
    push_url = state.push_url(app.appid)
    if not push_url:
        state.update_media_check(check, status="no_push_url")
        return
    now = int(state.clock.now())
    push = encrypt_push(app, build_event(app, check, verdict, now), timestamp=now)
    state.update_media_check(check, push_url=push_url)
    delivered = deliver_push(
        push_url,
        push,
        timeout=settings.push_timeout,
        retry_delays=settings.push_retry_delays,
        on_attempt=lambda attempt: state.record_push_attempt(check, attempt),
    )
    state.update_media_check(check, status="delivered" if delivered else "failed")


def _run_logging_crashes(state: SandboxState, app: SandboxApp, check: MediaCheck) -> None:
    """A crash must show as a failed check, not as a check pending forever."""
    try:
        run_media_check(state, app, check)
    except Exception:
        logger.exception("media check %s crashed", check.trace_id)
        state.update_media_check(check, status="failed")


def start_media_check(state: SandboxState, app: SandboxApp, check: MediaCheck) -> threading.Thread:
    """Run the job in a daemon thread, so a stopping sandbox never waits for a slow backend."""
    thread = threading.Thread(
        target=_run_logging_crashes, args=(state, app, check), name=f"media-check-{check.trace_id}",
        daemon=True,
    )
    thread.start()
    return thread
