"""Styles, jobs and results API (thin: parse, call ``services``, serialise)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from flask import Blueprint, Response, current_app, url_for
from flask_login import current_user
from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import BaseModel, Field

from app.accounts.auth import login_required, phone_required
from app.consent.guards import requires_consent
from app.consent.purposes import FACE_PROCESSING
from app.core import objects
from app.core.api import API_PREFIX, endpoint
from app.core.db import utcnow
from app.core.errors import ApiError, NotFound
from app.core.pagination import InvalidCursor, PageOut, PageQuery
from app.extensions import db
from app.privacy.receipts import log_operation

from . import labels, polling, previews, services, sharing
from .models import GenerationJob, GenerationResult

bp = Blueprint("generation", __name__, url_prefix=API_PREFIX)
TAGS = ("generation",)
_MEDIA_SALT = "generation-result-media"


class StyleOut(BaseModel):
    id: str
    kind: Literal["photo", "id_photo", "avatar", "video"]
    name: str = Field(description="In the request's language (zh-CN by default)")
    name_en: str
    kind_name: str = Field(description="The kind in the request's language")
    min_photos: int
    max_photos: int


class StylesOut(BaseModel):
    styles: list[StyleOut]


class JobIn(BaseModel):
    style: str = Field(max_length=32)
    uploads: list[str] = Field(min_length=1, max_length=10)


class ResultOut(BaseModel):
    id: str
    kind: str
    width: int
    height: int
    likeness_score: float | None = Field(description="Face-geometry likeness to the source photo, 0-1 (no "
                                                     "identity model); null when not checked (ID photo, video)")
    likeness_flagged: bool = Field(description="Below LIKENESS_THRESHOLD after a retry where the backend can vary")


class JobOut(BaseModel):
    id: str
    style: str
    style_name: str = Field(description="The style's name in the request's language")
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    status_text: str = Field(description="The status in the request's language (zh-CN by default)")
    progress: float
    queue_position: int | None = Field(
        description="While queued: this job's place in the queue, 1-based (1 = it runs next; users take turns: "
                    "docs/generation.md). Shown to the user as 排队第 N 位，前面还有 N-1 人 (N-1 jobs ahead); null "
                    "once it runs or ends, or when unknown")
    estimated_wait_s: int | None = Field(description="Seconds until done, from the queue position, the number of "
                                                     "workers and recent job durations")
    next_poll_after_s: int | None = Field(
        description="Ask again after this many seconds (also the Retry-After header of GET /jobs/{id}): a tenth "
                    "of estimated_wait_s, 2-60 s, while queued; 5 s when the wait is unknown; 2 s while running; "
                    "null once the job ended (docs/api-conventions.md)")
    error_code: str | None
    error_message: str | None = Field(description="In the request's language")
    created_at: datetime
    finished_at: datetime | None
    sources_deleted_at: datetime | None = Field(description="When the source photos were deleted")
    results: list[ResultOut]


class JobListOut(PageOut):
    jobs: list[JobOut]


class LinksOut(BaseModel):
    preview_url: str | None
    original_url: str | None
    expires_at: datetime


class ShareOut(BaseModel):
    result_id: str
    token: str = Field(description="For the share card's mini-program path")
    url: str = Field(description="The watermarked preview, for anyone holding the link until it expires")
    expires_at: datetime


class EntitlementRequired(ApiError):
    status, code, message = 402, "entitlement_required", "Buy the HD download to get the full-resolution file."


def _style_name(style_id: str) -> str:
    try:
        return labels.style_name(services.style(style_id))
    except ApiError:  # a style since removed from the catalogue: its id is all we have
        return style_id


def job_out(job: GenerationJob, with_position: bool = True) -> JobOut:
    position, wait = services.queue_position(job) if with_position else (None, None)
    return JobOut(id=job.public_id, style=job.style_id, style_name=_style_name(job.style_id), status=job.status,
                  status_text=labels.job_status_text(job.status), progress=job.progress,
                  queue_position=position, estimated_wait_s=wait,
                  next_poll_after_s=polling.next_poll_after(job.status, wait), error_code=job.error_code,
                  error_message=labels.job_error_text(job.error_code, job.error_message),
                  created_at=job.created_at, finished_at=job.finished_at,
                  sources_deleted_at=job.sources_deleted_at,
                  results=[ResultOut(id=r.public_id, kind=r.kind, width=r.width, height=r.height,
                                     likeness_score=r.likeness_score, likeness_flagged=r.likeness_flagged)
                           for r in job.results if r.deleted_at is None])


@bp.get("/styles")
@endpoint("The style catalogue", response=StylesOut, tags=TAGS)
def list_styles():
    styles = []
    for spec in services.catalogue():
        low, high = services.source_counts(spec.kind)
        styles.append(StyleOut(id=spec.id, kind=spec.kind, name=labels.style_name(spec), name_en=spec.name_en,
                               kind_name=str(labels.STYLE_KIND_LABELS.get(spec.kind, spec.kind)),
                               min_photos=low, max_photos=high))
    return StylesOut(styles=styles)


@bp.post("/jobs")
@phone_required
@requires_consent(FACE_PROCESSING)
@endpoint("Start a generation job with my uploads", body=JobIn, response=JobOut, status=202, auth=True, tags=TAGS,
          errors={402: ["payment_required"], 404: ["upload_not_found"], 409: ["upload_not_available"],
                  422: ["unknown_style", "wrong_source_count"], 429: ["rate_limited"]}, idempotent=True,
          description="Claims the uploads. Errors: unknown_style, wrong_source_count, upload_not_found, "
                      "upload_not_available, payment_required (a paid style without credits), rate_limited "
                      "(GENERATION_MAX_QUEUED_PER_USER jobs not yet started; details.retry_after, details.max_queued), "
                      "queue_unavailable.")
def create_job(body: JobIn):
    job = services.create_job(current_user, body.style, body.uploads)
    log_operation(current_user.id, "generate", "job", job.public_id)
    db.session.commit()
    return job_out(job)


@bp.get("/jobs")
@login_required
@endpoint("My jobs, newest first (paged)", query=PageQuery, response=JobListOut, auth=True, tags=TAGS,
          errors=[InvalidCursor])
def list_jobs(query: PageQuery):
    jobs, next_cursor = services.list_own(current_user, query)
    return JobListOut(jobs=[job_out(j, with_position=False) for j in jobs], next_cursor=next_cursor)


@bp.get("/jobs/<job_id>")
@login_required
@endpoint("A job: status, progress, queue position, estimated wait, results", response=JobOut, auth=True,
          tags=TAGS, errors={404: ["job_not_found"]},
          extra_responses={304: "Not modified: If-None-Match holds the current ETag (no body)"},
          response_headers=polling.RESPONSE_HEADERS,
          description="Answers an ETag and Retry-After (= next_poll_after_s); send the ETag back as If-None-Match "
                      "and an unchanged job is answered 304 without a body. Served from Redis while the job did "
                      "not change (app/generation/polling.py).")
def get_job(job_id: str):
    data = polling.cached(current_user.id, job_id)
    if data is None:
        read_epochs = polling.epochs(current_user.id)  # before the query: a change committed after it renews them
        job = services.get_own(current_user, job_id)
        data = job_out(job).model_dump(mode="json")
        polling.remember(job, data, read_epochs)
    return polling.respond(data)


@bp.post("/jobs/<job_id>/cancel")
@login_required
@endpoint("Cancel a queued or running job (its photos are deleted)", response=JobOut, auth=True, tags=TAGS,
          errors={404: ["job_not_found"], 409: ["job_already_finished"]})
def cancel_job(job_id: str):
    return job_out(services.cancel(services.get_own(current_user, job_id)))


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_MEDIA_SALT)


def _link(result: GenerationResult, variant: str) -> str:
    token = _serializer().dumps([result.public_id, variant])
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + url_for("generation.result_media", token=token)


@bp.get("/results/<result_id>/links")
@login_required
@endpoint("Short-lived download links for a result", response=LinksOut, auth=True, tags=TAGS,
          errors={404: ["result_not_found"]})
def result_links(result_id: str):
    result = services.result_of(current_user, result_id)
    ttl = current_app.config["MEDIA_URL_TTL_S"]
    return LinksOut(preview_url=_link(result, "preview") if result.preview_object_id else None,
                    original_url=_link(result, "original"), expires_at=utcnow() + timedelta(seconds=ttl))


@bp.get("/media/results/<token>")
@endpoint("A result file behind a signed link (preview: free, watermarked; original: needs an entitlement)",
          tags=TAGS, errors=[EntitlementRequired, 404], produces="image/*")
def result_media(token: str):
    try:
        public_id, variant = _serializer().loads(token, max_age=current_app.config["MEDIA_URL_TTL_S"])
    except (BadSignature, ValueError) as exc:
        raise NotFound() from exc
    result = db.session.query(GenerationResult).filter_by(public_id=public_id, deleted_at=None).one_or_none()
    if result is None:
        raise NotFound()
    if variant == "original":
        from app.orders.entitlements import has_hd

        if not has_hd(result.user_id, result.public_id, result.job.public_id, job_id=result.job_id):
            raise EntitlementRequired(details={"result": public_id, "products": ["hd_result", "hd_job"]})
        stored, action = result.original, "download_original"
    else:
        stored, action = result.preview, "download_preview"
    if stored is None:
        raise NotFound()
    log_operation(result.user_id, action, "result", public_id)
    db.session.commit()
    return Response(objects.read(stored), mimetype=stored.mime_type, headers={"Cache-Control": "private, max-age=60"})


@bp.post("/results/<result_id>/share")
@login_required
@endpoint("Share a result: a link to its watermarked preview that expires (logged as `share`)", response=ShareOut,
          status=201, auth=True, tags=TAGS, errors={404: ["result_not_found"], 409: ["nothing_to_share"]},
          idempotent=True,
          description="Errors: result_not_found, nothing_to_share. The HD original is never shared.")
def share_result(result_id: str):
    link = sharing.share(current_user, result_id)
    db.session.commit()
    url = current_app.config["PUBLIC_BASE_URL"].rstrip("/") + url_for("generation.shared_media", token=link.token)
    return ShareOut(result_id=link.result_id, token=link.token, url=url, expires_at=link.expires_at)


@bp.get("/shared/<token>")
@endpoint("A shared result's watermarked preview (no login: whoever holds the link)", tags=TAGS,
          errors=[sharing.ShareLinkExpired, (404, "share_link_invalid"), (404, "shared_result_deleted")],
          produces="image/*",
          description="Errors: share_link_invalid, share_link_expired (410), shared_result_deleted.")
def shared_media(token: str):
    result = sharing.shared_result(token)
    stored = result.preview
    data = previews.for_propagation(objects.read(stored), result.public_id, sharing.propagate_id(token))
    return Response(data, mimetype=stored.mime_type,
                    headers={"Cache-Control": "private, max-age=60", "X-Robots-Tag": "noindex"})
