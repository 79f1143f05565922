"""Upload rules: ingest, look up, delete (with receipts), content-check verdicts, the sweep.

Every deletion of a portrait removes the file, drops its data key (crypto-shredding) and writes a
deletion receipt, in one transaction.
"""

from __future__ import annotations

import logging
import math
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

from flask import current_app
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import joinedload

from app.accounts.services import get_user, lock_user
from app.core import objects, ratelimit
from app.core.db import commit_keeping_loaded, insert_as_loaded, utcnow
from app.core.errors import ApiError, NotFound, PayloadTooLarge, RateLimited, ValidationFailed
from app.core.jobs import require_queue
from app.core.pagination import PageQuery, paginate
from app.extensions import db
from app.privacy.receipts import write_receipt

from . import content_check, images
from .models import Upload, UploadStatus

if TYPE_CHECKING:
    from app.accounts.models import User

log = logging.getLogger(__name__)

DATA_KIND = "portrait_upload"
DECLARATIONS = ("own_face", "subject_consented")


class InvalidImage(ApiError):
    status, code, message = 422, "invalid_image", "This photo cannot be used."


def photo_too_large(limit: int) -> PayloadTooLarge:
    """The one answer to an over-large photo, whether the file or the whole request is over its limit: the
    client needs one code to show "choose a smaller photo", and the limit it must meet (the file's)."""
    return PayloadTooLarge("The photo is larger than allowed.", code="upload_too_large",
                           details={"max_bytes": limit})


def read_limited(stream, limit: int) -> bytes:
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise photo_too_large(limit)
    return data


def ingest(user: User, data: bytes, declaration: str) -> Upload:
    """Validate, normalise, check the face, encrypt and store one photo; start its content check."""
    if declaration not in DECLARATIONS:
        raise ValidationFailed(details={"fields": [{"field": "declaration", "location": "form",
                                                    "type": "declaration_required",
                                                    "message": "confirm it is your own face, or that the person "
                                                               "shown agreed: own_face | subject_consented"}]})
    require_queue()  # its content check and the job that would use it need the queue: refuse before storing
    config = current_app.config
    ratelimit.enforce(ratelimit.Rule("uploads:user", str(user.id), config["RATE_LIMIT_UPLOADS_PER_USER"]),
                      message="You are uploading photos too fast; please wait a moment.")
    try:
        image = images.normalise(data, max_pixels=config["UPLOAD_MAX_PIXELS"], min_side=config["UPLOAD_MIN_SIDE"])
        if config["FACE_CHECK_ENABLED"]:
            from .faces import check_face

            check_face(image.analysis)
    except images.ImageRejected as exc:
        raise InvalidImage(exc.user_message, details={"reason": exc.reason}) from exc
    checking = config["CONTENT_CHECK_ENABLED"]
    # After the image work, not before: the count is serialised with the user's other uploads by the user row's
    # lock, which is not held across the decoding. A user at the cap who keeps trying still costs the decoding
    # only as often as the rate limit above allows, as a refused photo does.
    check_unclaimed(user)
    stored = objects.store(DATA_KIND, image.jpeg, "image/jpeg")
    try:
        upload = _insert_upload(user, declaration, stored, image, checking)
        commit_keeping_loaded(db.session)  # the content check and the answer read what was just written
    except Exception:
        db.session.rollback()
        objects.discard_unsaved(stored)
        raise
    if checking:
        content_check.start(upload, user, keep_loaded=True)
    return upload


def _insert_upload(user: User, declaration: str, stored: objects.StoredObject, image: images.NormalisedImage,
                   checking: bool) -> Upload:
    """The upload's row, written at once and loaded (``insert_as_loaded``: cheaper than the ORM's flush), so the
    answer and the content check read it without a query."""
    upload = Upload(public_id=uuid.uuid4().hex, user_id=user.id,
                    status=UploadStatus.PENDING_REVIEW if checking else UploadStatus.READY,
                    declaration=declaration, object_id=stored.id, width=image.width, height=image.height,
                    source_format=image.source_format, review_trace_id=None, rejection_reason=None,
                    claimed_by=None, created_at=utcnow(), reviewed_at=None, deleted_at=None, delete_reason=None)
    upload.stored_object = stored
    insert_as_loaded(db.session, upload)
    return upload


# Live photos no job has claimed yet. A statement of its own after ``lock_user``'s, not one that locks and
# counts at once: on PostgreSQL (READ COMMITTED) a statement reads the snapshot taken when it began, so a count
# in the statement that waited for the lock would miss the photo the lock's holder has just committed.
_uploads = Upload.__table__
_UNCLAIMED = (select(func.count(_uploads.c.id), func.min(_uploads.c.created_at))
              .where(_uploads.c.user_id == bindparam("user_id"), _uploads.c.deleted_at.is_(None),
                     _uploads.c.claimed_by.is_(None)))


def check_unclaimed(user: User) -> None:
    """429 when the user already has UPLOAD_MAX_UNCLAIMED_PER_USER live photos no job has claimed; locks the user
    row (PostgreSQL; SQLite serialises writers) until the caller's transaction ends."""
    cap = current_app.config["UPLOAD_MAX_UNCLAIMED_PER_USER"]
    lock_user(user.id)
    live, oldest = db.session.connection().execute(_UNCLAIMED, {"user_id": user.id}).one()
    if live < cap:
        return
    # The oldest one is deleted by the sweep after UPLOAD_UNCLAIMED_TTL_S, unless the user uses or deletes it first.
    expires = oldest + timedelta(seconds=current_app.config["UPLOAD_UNCLAIMED_TTL_S"])
    db.session.rollback()
    raise RateLimited(retry_after=max(1, math.ceil((expires - utcnow()).total_seconds())),
                      message="You have too many photos waiting to be used; start a job with them or delete some.",
                      details={"max_unclaimed": cap})


def get_own(user: User, public_id: str) -> Upload:
    upload = db.session.scalar(select(Upload).where(Upload.public_id == public_id, Upload.user_id == user.id))
    if upload is None:
        raise NotFound("No such upload.", code="upload_not_found")
    return upload


# The upload WeChat's content check downloads, and its stored photo, in one statement built once (it runs
# once per upload, issue #20).
_UNDER_REVIEW = (select(Upload).options(joinedload(Upload.stored_object))
                 .where(Upload.public_id == bindparam("public_id"), Upload.status == UploadStatus.PENDING_REVIEW))


def photo_under_review(public_id: str) -> bytes:
    """The photo of an upload WeChat is still reviewing (decrypted, for its download); NotFound for any other."""
    upload = db.session.scalars(_UNDER_REVIEW, {"public_id": public_id}).one_or_none()
    if upload is None or upload.stored_object is None:
        raise NotFound()
    return objects.read(upload.stored_object)


def list_own(user: User, page: PageQuery) -> tuple[list[Upload], str | None]:
    """Newest first, one page (see ``app.core.pagination``)."""
    return paginate(select(Upload).where(Upload.user_id == user.id, Upload.deleted_at.is_(None)), page,
                    Upload.id.desc())


def delete(upload: Upload, reason: str, *, status: str = UploadStatus.DELETED) -> None:
    """Delete the photo now (file, data key), keep a receipt; the caller commits."""
    if upload.stored_object is not None and upload.stored_object.destroyed_at is None:
        objects.destroy(upload.stored_object)
    if upload.deleted_at is None:
        upload.deleted_at = utcnow()
        upload.delete_reason = reason
        upload.status = status
        write_receipt(upload.user_id, DATA_KIND, upload.public_id, reason)


def delete_all_of_user(user_id: int, reason: str) -> int:
    uploads = list(db.session.scalars(select(Upload).where(Upload.user_id == user_id, Upload.deleted_at.is_(None))))
    for upload in uploads:
        delete(upload, reason)
    return len(uploads)


# A passing verdict, the common answer: one statement built once (it runs once per upload, issue #20).
_PASS_PENDING = (_uploads.update()
                 .where(_uploads.c.review_trace_id == bindparam("trace_id_"),
                        _uploads.c.status == UploadStatus.PENDING_REVIEW.value)
                 .values(status=UploadStatus.READY.value, reviewed_at=bindparam("reviewed_at_"))
                 .returning(_uploads.c.id))


def apply_verdict(trace_id: str, suggest: str) -> bool:
    """WeChat's content check answered: keep (pass) or delete (risky/review) the photo. False: no upload has
    this trace id (yet: the verdict may outrun the commit of the upload's trace id)."""
    if suggest == "pass":
        passed = db.session.connection().execute(_PASS_PENDING, {"trace_id_": trace_id, "reviewed_at_": utcnow()})
        if passed.first() is not None:
            db.session.commit()
            return True
    upload = db.session.scalar(select(Upload).where(Upload.review_trace_id == trace_id).with_for_update())
    if upload is None:
        return False
    if upload.status != UploadStatus.PENDING_REVIEW:
        return True  # already decided: pushes may repeat
    upload.reviewed_at = utcnow()
    if suggest == "pass":  # its trace id was committed between the two statements
        upload.status = UploadStatus.READY
    else:
        upload.rejection_reason = f"content_{suggest}"
        delete(upload, f"content_check_{suggest}", status=UploadStatus.REJECTED)
    db.session.commit()
    return True


def sweep(now=None) -> dict[str, int]:
    """Delete unclaimed uploads past their time; settle content checks WeChat never answered."""
    now = now or utcnow()
    config = current_app.config
    counts = {"unclaimed_deleted": 0, "review_timed_out": 0, "review_restarted": 0}
    review_deadline = now - timedelta(seconds=config["CONTENT_CHECK_TIMEOUT_S"])
    pending = db.session.scalars(select(Upload).where(Upload.status == UploadStatus.PENDING_REVIEW))
    for upload in pending:
        if upload.created_at <= review_deadline:
            counts["review_timed_out"] += 1
            if config["CONTENT_CHECK_TIMEOUT_POLICY"] == "accept":
                upload.status, upload.reviewed_at = UploadStatus.READY, now
            else:
                upload.rejection_reason = "content_check_timeout"
                delete(upload, "content_check_timeout", status=UploadStatus.REJECTED)
        elif upload.review_trace_id is None:
            counts["review_restarted"] += 1
            content_check.start(upload, get_user(upload.user_id))
    unclaimed_deadline = now - timedelta(seconds=config["UPLOAD_UNCLAIMED_TTL_S"])
    stale = db.session.scalars(select(Upload).where(Upload.deleted_at.is_(None), Upload.claimed_by.is_(None),
                                                    Upload.created_at <= unclaimed_deadline))
    for upload in stale:
        delete(upload, "unclaimed_expired")
        counts["unclaimed_deleted"] += 1
    db.session.commit()
    if any(counts.values()):
        log.info("uploads swept", extra=counts)
    return counts


def user_ids_with_uploads_between(since, until) -> list[int]:
    """Users who had an upload stored at some moment in [since, until] (notices: who an incident concerns)."""
    return list(db.session.scalars(select(Upload.user_id).distinct().where(
        Upload.created_at <= until, (Upload.deleted_at.is_(None)) | (Upload.deleted_at >= since))))


# --- for generation: the photos a job claims and uses (generation never touches the uploads table) -----

def lock_for_job(user_id: int, upload_ids: set[str]) -> list[Upload]:
    """The user's uploads named, locked for the claim; raises when one is missing or not available."""
    claimed = list(db.session.scalars(select(Upload).where(Upload.public_id.in_(upload_ids),
                                                           Upload.user_id == user_id).with_for_update()))
    if len(claimed) != len(upload_ids):
        raise NotFound("No such upload.", code="upload_not_found")
    not_ready = [u.public_id for u in claimed if u.status != UploadStatus.READY or u.claimed_by or u.deleted_at]
    if not_ready:
        from app.core.errors import Conflict

        raise Conflict("Some photos are not ready, or already used by another job.", code="upload_not_available",
                       details={"uploads": not_ready})
    return claimed


def claim(uploads: list[Upload], job_public_id: str) -> None:
    for upload in uploads:
        upload.claimed_by = job_public_id


def sources_of_job(job_public_id: str) -> list[Upload]:
    return list(db.session.scalars(select(Upload).where(Upload.claimed_by == job_public_id).order_by(Upload.id)))


def delete_sources_of_job(job_public_id: str, reason: str) -> int:
    sources = list(db.session.scalars(select(Upload).where(Upload.claimed_by == job_public_id,
                                                           Upload.deleted_at.is_(None))))
    for upload in sources:
        delete(upload, reason)
    return len(sources)


def live_source_exists(job_public_id):
    """SQL condition: a photo claimed by the job (``job_public_id`` is a column) is not deleted yet."""
    from sqlalchemy import exists

    return exists().where(Upload.claimed_by == job_public_id, Upload.deleted_at.is_(None))


def sources_by_job(user_id: int) -> dict[str, list[str]]:
    """Job public id → the public ids of the user's photos it claimed (the export's jobs.json)."""
    sources: dict[str, list[str]] = {}
    for public_id, claimed_by in db.session.execute(select(Upload.public_id, Upload.claimed_by).where(
            Upload.user_id == user_id, Upload.claimed_by.is_not(None)).order_by(Upload.id)):
        sources.setdefault(claimed_by, []).append(public_id)
    return sources
