"""WeChat content safety for portraits: ``media_check_async`` out, an encrypted verdict pushed back.

WeChat downloads the photo from a signed, short-lived URL of ours (valid only while the photo
awaits review), checks it, and pushes the verdict (event ``wxa_media_check``) to our message-push
endpoint, encrypted with the mini-program's EncodingAESKey and signed with its Token.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from flask import current_app, has_request_context, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer
from redis.exceptions import RedisError
from sqlalchemy import bindparam
from sqlalchemy.orm.attributes import set_committed_value
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.utils import check_signature

from app.core.db import commit_keeping_loaded
from app.core.errors import ApiError, NotFound
from app.core.wechat import WeChatError, WeChatUnavailable, mini_program_client
from app.extensions import db

from .models import Upload

if TYPE_CHECKING:
    from app.accounts.models import User

log = logging.getLogger(__name__)
_MEDIA_SALT = "upload-media-for-content-check"


class InvalidPush(ApiError):
    status, code, message = 400, "invalid_push", "The push could not be verified."


class VerdictBeforeTraceId(ApiError):
    """The verdict came back before the upload's ``trace_id`` was committed (WeChat answered fast).

    Answering anything but ``success`` makes WeChat push again (the sandbox after 1, 5 and 15 s), by which
    time the upload request has stored the ``trace_id``; answering ``success`` would lose the verdict and
    leave the photo pending until the review timeout.
    """

    status, code, message = 503, "content_check_not_ready", "The content check is not recorded yet; push again."


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_MEDIA_SALT)


def media_url(upload: Upload) -> str:
    token = _serializer().dumps(upload.public_id)
    if has_request_context():
        path = url_for("uploads.media_for_review", token=token)
    else:  # the uploads sweep restarts checks from a worker, where there is no request to build URLs from
        with current_app.test_request_context():
            path = url_for("uploads.media_for_review", token=token)
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + path


def upload_for_media_token(token: str) -> str:
    try:
        return _serializer().loads(token, max_age=current_app.config["MEDIA_URL_TTL_S"])
    except BadSignature as exc:
        raise NotFound() from exc


_uploads = Upload.__table__
_SET_TRACE_ID = (_uploads.update().where(_uploads.c.id == bindparam("upload_id"))
                 .values(review_trace_id=bindparam("trace_id")))


def start(upload: Upload, user: User | None, *, keep_loaded: bool = False) -> None:
    """Ask WeChat to check the photo; on failure the upload stays pending and the sweep retries.

    ``keep_loaded``: commit without expiring the session's objects (the upload request answers with the
    upload just written; the sweep, which goes on with other uploads, reloads as usual)."""
    from app.accounts.services import openid_of

    openid = openid_of(user.id) if user else None
    if openid is None:
        log.warning("content check needs a WeChat openid; left to the review timeout policy")
        return
    try:
        answer = mini_program_client().check_media_async(media_url(upload), openid)
    except (WeChatError, WeChatUnavailable, RedisError) as exc:  # Redis: the shared access token is out of reach
        log.warning("content check could not start", extra={"error": str(exc)})
        return
    # One prebuilt UPDATE rather than a flush of the ORM object (issue #20: the upload's hot path); the object
    # is told the value as committed, so it agrees with the row and no flush writes it again.
    db.session.connection().execute(_SET_TRACE_ID, {"upload_id": upload.id, "trace_id": answer["trace_id"]})
    set_committed_value(upload, "review_trace_id", answer["trace_id"])
    if keep_loaded:
        commit_keeping_loaded(db.session)
    else:
        db.session.commit()


def decrypt_push(args: dict, body: bytes) -> dict:
    """Verify the push's signatures and decrypt it (safe mode, JSON format)."""
    config = current_app.config
    try:
        check_signature(config["WECHAT_PUSH_TOKEN"], args.get("signature", ""), args.get("timestamp", ""),
                        args.get("nonce", ""))
        message = json.loads(body)
        crypto = WeChatCrypto(config["WECHAT_PUSH_TOKEN"], config["WECHAT_PUSH_AES_KEY"], config["WECHAT_APPID"])
        plaintext = crypto.decrypt_message(message, args.get("msg_signature", ""), args.get("timestamp", ""),
                                           args.get("nonce", ""))
        return json.loads(plaintext)
    except InvalidSignatureException as exc:
        log.warning("wechat push with a bad signature refused")
        raise InvalidPush() from exc
    except Exception as exc:  # malformed JSON, wrong key, wrong appid (wechatpy raises several kinds)
        log.warning("wechat push could not be decrypted", extra={"error_class": type(exc).__name__})
        raise InvalidPush() from exc


def verify_url(args: dict) -> str:
    """WeChat's push-URL verification: echo ``echostr`` when the signature is right."""
    try:
        check_signature(current_app.config["WECHAT_PUSH_TOKEN"], args.get("signature", ""),
                        args.get("timestamp", ""), args.get("nonce", ""))
    except InvalidSignatureException as exc:
        raise InvalidPush() from exc
    return args.get("echostr", "")
