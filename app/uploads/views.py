"""Uploads API, the media URL WeChat fetches for review, and WeChat's message-push endpoint."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from flask import Blueprint, Response, current_app, request
from flask_login import current_user
from pydantic import BaseModel, Field
from werkzeug.exceptions import RequestEntityTooLarge

from app.accounts.auth import phone_required
from app.consent.guards import requires_consent
from app.consent.purposes import FACE_PROCESSING
from app.core.api import API_PREFIX, endpoint
from app.core.errors import BadRequest, QueueUnavailable, StorageFull, StorageUnavailable
from app.core.pagination import InvalidCursor, PageOut, PageQuery
from app.extensions import db

from . import content_check, services
from .models import Upload

bp = Blueprint("uploads", __name__, url_prefix=API_PREFIX)
wechat_push_bp = Blueprint("wechat_push", __name__, url_prefix=API_PREFIX)
TAGS = ("uploads",)


class UploadOut(BaseModel):
    id: str
    status: Literal["pending_review", "ready", "rejected", "deleted"]
    width: int
    height: int
    declaration: str
    rejection_reason: str | None
    claimed: bool
    created_at: datetime
    delete_after: datetime | None = Field(description="Deleted automatically then unless a job claims it")


class UploadForm(BaseModel):
    """The multipart/form-data body of ``POST /uploads`` (parsed by the view: files are not JSON)."""

    file: bytes = Field(description="The photo: JPEG, PNG or WebP, at most UPLOAD_MAX_BYTES",
                        json_schema_extra={"contentMediaType": "image/*"})
    declaration: Literal["own_face", "subject_consented"] = Field(
        description="own_face: it is my face; subject_consented: the person shown agreed")


class UploadListOut(PageOut):
    uploads: list[UploadOut]


def upload_out(upload: Upload) -> UploadOut:
    ttl = timedelta(seconds=current_app.config["UPLOAD_UNCLAIMED_TTL_S"])
    return UploadOut(id=upload.public_id, status=upload.status, width=upload.width, height=upload.height,
                     declaration=upload.declaration, rejection_reason=upload.rejection_reason,
                     claimed=upload.claimed_by is not None, created_at=upload.created_at,
                     delete_after=None if upload.deleted_at or upload.claimed_by else upload.created_at + ttl)


@bp.post("/uploads")
@phone_required
@requires_consent(FACE_PROCESSING)
@endpoint("Upload one portrait (multipart: file, declaration)", form=UploadForm, response=UploadOut, status=201,
          auth=True, tags=TAGS, idempotent=True,
          errors=[(400, "file_required"), 413, (413, "upload_too_large"), 415, 422, services.InvalidImage,
                  (429, "rate_limited"), QueueUnavailable, StorageUnavailable, StorageFull],
          description="multipart/form-data with `file` (JPEG/PNG/WebP) and `declaration` "
                      "(own_face | subject_consented). Errors: invalid_image (details.reason: unsupported_format, "
                      "corrupt, animated, too_small, too_many_pixels, no_face, multiple_faces, face_too_small, "
                      "too_blurry, too_dark), upload_too_large (413, whether the file or the whole request is "
                      "over its limit; details.max_bytes), consent_required, guardian_consent_required, "
                      "rate_limited (429: RATE_LIMIT_UPLOADS_PER_USER, or UPLOAD_MAX_UNCLAIMED_PER_USER photos not "
                      "yet used by a job: details.max_unclaimed), "
                      "queue_unavailable (503), storage_unavailable (503), storage_full (507): nothing was saved.")
def create_upload():
    if request.mimetype != "multipart/form-data":
        from app.core.errors import UnsupportedMediaType

        raise UnsupportedMediaType("Send the photo as multipart/form-data.")
    limit = current_app.config["UPLOAD_MAX_BYTES"]
    try:
        file = request.files.get("file")
    except RequestEntityTooLarge as exc:  # the whole request is over MAX_CONTENT_LENGTH: still the photo's fault
        raise services.photo_too_large(limit) from exc
    if file is None:
        raise BadRequest("Attach the photo as the `file` field.", code="file_required")
    data = services.read_limited(file.stream, limit)
    upload = services.ingest(current_user, data, request.form.get("declaration", ""))
    return upload_out(upload)


@bp.get("/uploads")
@phone_required
@endpoint("My uploads not yet deleted, newest first (paged)", query=PageQuery, response=UploadListOut, auth=True,
          tags=TAGS, errors=[InvalidCursor])
def list_uploads(query: PageQuery):
    uploads, next_cursor = services.list_own(current_user, query)
    return UploadListOut(uploads=[upload_out(u) for u in uploads], next_cursor=next_cursor)


@bp.get("/uploads/<upload_id>")
@phone_required
@endpoint("One of my uploads (status of its review)", response=UploadOut, auth=True, tags=TAGS,
          errors={404: ["upload_not_found"]})
def get_upload(upload_id: str):
    return upload_out(services.get_own(current_user, upload_id))


@bp.delete("/uploads/<upload_id>")
@phone_required
@endpoint("Delete one of my uploads now", status=204, auth=True, tags=TAGS, errors={404: ["upload_not_found"]})
def delete_upload(upload_id: str):
    upload = services.get_own(current_user, upload_id)
    services.delete(upload, "user_request")
    db.session.commit()


@bp.get("/uploads/media/<token>")
@endpoint("For WeChat's content check: the photo under review (image/jpeg)", tags=("wechat",), errors=[404],
          produces="image/jpeg",
          description="Signed, expires after MEDIA_URL_TTL_S, answers only while the upload is pending_review.")
def media_for_review(token: str):
    """The photo, for WeChat's content check only: signed, short-lived, only while under review."""
    photo = services.photo_under_review(content_check.upload_for_media_token(token))
    return Response(photo, mimetype="image/jpeg", headers={"Cache-Control": "no-store"})


@wechat_push_bp.route("/wechat/push", methods=["GET", "POST"])
@endpoint("WeChat message push (content-check verdicts), safe mode", tags=("wechat",),
          errors=[content_check.InvalidPush, content_check.VerdictBeforeTraceId], produces="text/plain",
          description="GET: URL verification (echostr). POST: signed, AES-encrypted JSON event; answers `success`, "
                      "or 503 `content_check_not_ready` when the verdict outran the upload's own commit of its "
                      "trace_id (WeChat pushes again).")
def wechat_push():
    """WeChat's message push (content-check verdicts); answers "success" as WeChat expects."""
    if request.method == "GET":
        return Response(content_check.verify_url(request.args), mimetype="text/plain")
    event = content_check.decrypt_push(request.args, request.get_data())
    if event.get("Event") == "wxa_media_check" and event.get("trace_id"):
        suggest = (event.get("result") or {}).get("suggest", "review")
        if not services.apply_verdict(event["trace_id"], suggest):
            raise content_check.VerdictBeforeTraceId()
    return Response("success", mimetype="text/plain")
