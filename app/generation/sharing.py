"""Share links: what the mini-program's share sheet hands to a friend (policy §2.1, "分享").

A share link shows the result's watermarked preview, never the HD original, to anyone who holds it, until
it expires (``SHARE_LINK_TTL_S``) or the result is deleted (deletion request, retention, account
cancellation), whichever comes first. The link is a signed token: no table, so there is nothing more held
about the user than the ``share`` line each share writes to their operation log — which is what the policy
promises to record ("分享记录").
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select

from app.core.db import utcnow
from app.core.errors import ApiError, Conflict, NotFound
from app.extensions import db
from app.privacy.receipts import log_operation

from . import services
from .models import GenerationResult

if TYPE_CHECKING:
    from app.accounts.models import User

_SHARE_SALT = "generation-result-share"
SHARE_ACTION = "share"


class ShareLinkExpired(ApiError):
    status, code, message = 410, "share_link_expired", "This share link has expired; ask for a new one."


@dataclass(frozen=True)
class ShareLink:
    result_id: str
    token: str
    expires_at: datetime


def ttl_s() -> int:
    return current_app.config["SHARE_LINK_TTL_S"]


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SHARE_SALT)


def share(user: User, result_id: str) -> ShareLink:
    """A new link to one of the user's results, logged as ``share``; the caller commits."""
    result = services.result_of(user, result_id)
    if result.preview_object_id is None:
        raise Conflict("This result has no preview to share.", code="nothing_to_share",
                       details={"result": result_id})
    token = _serializer().dumps(result.public_id)
    log_operation(user.id, SHARE_ACTION, "result", result.public_id)
    return ShareLink(result_id=result.public_id, token=token, expires_at=utcnow() + timedelta(seconds=ttl_s()))


def propagate_id(token: str) -> str:
    """The AIGC label's PropagateID for a file served through this link: stable per link, not the token itself."""
    return "share-" + hashlib.sha256(token.encode()).hexdigest()[:24]


def shared_result(token: str) -> GenerationResult:
    """The result a share link points at, if the link is genuine, not expired and the result still exists."""
    try:
        public_id = _serializer().loads(token, max_age=ttl_s())
    except SignatureExpired as exc:
        raise ShareLinkExpired() from exc
    except BadSignature as exc:
        raise NotFound("No such share link.", code="share_link_invalid") from exc
    result = db.session.scalar(select(GenerationResult).where(GenerationResult.public_id == public_id,
                                                              GenerationResult.deleted_at.is_(None)))
    if result is None or result.preview is None:
        raise NotFound("The shared result has been deleted.", code="shared_result_deleted")
    return result
