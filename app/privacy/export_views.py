"""The data export API (policy §8(5)): request a copy, follow it, download it through a short-lived link.

User-rights endpoints stay reachable while a policy update is pending (the blueprint is exempt from
the consent guard). The download link is the capability (like result media links): signed with
itsdangerous, valid ``EXPORT_DOWNLOAD_URL_TTL_S`` seconds, bound to the export and its owner, and
only while the export is ``ready`` and not past ``expires_at``; anything else is 404.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from flask import Blueprint, Response, current_app, url_for
from flask_login import current_user
from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import BaseModel, Field
from sqlalchemy import select

from app.accounts.auth import login_required
from app.accounts.services import public_id_of
from app.core import objects
from app.core.api import API_PREFIX, endpoint
from app.core.db import utcnow
from app.core.errors import NotFound
from app.core.pagination import InvalidCursor, PageOut, PageQuery
from app.core.transaction import transactional
from app.extensions import db
from app.privacy.receipts import log_operation

from . import export as service
from .export_models import DataExport

bp = Blueprint("privacy_export", __name__, url_prefix=API_PREFIX)
TAGS = ("privacy",)
DOWNLOAD_SALT = "privacy-export-download"


class ExportOut(BaseModel):
    id: str
    state: Literal["pending", "running", "ready", "expired", "failed"]
    created_at: datetime
    started_at: datetime | None
    ready_at: datetime | None
    expires_at: datetime | None = Field(description="The archive is deleted then (EXPORT_TTL_DAYS after ready)")
    expired_at: datetime | None
    size_bytes: int | None
    failure_reason: str | None = Field(description="Why a failed export produced nothing (for the user)")
    download_url: str | None = Field(description="While ready: a signed link, valid for a few minutes")
    download_url_expires_at: datetime | None


class ExportListOut(PageOut):
    exports: list[ExportOut]


def download_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=DOWNLOAD_SALT)


def export_out(export: DataExport) -> ExportOut:
    now = utcnow()
    url = link_expires = None
    if service.is_downloadable(export, now):
        token = download_serializer().dumps([export.public_id, public_id_of(export.user_id)])
        url = current_app.config["PUBLIC_BASE_URL"].rstrip("/") + url_for("privacy_export.download_export",
                                                                          token=token)
        link_expires = min(now + timedelta(seconds=current_app.config["EXPORT_DOWNLOAD_URL_TTL_S"]),
                           export.expires_at)
    return ExportOut(id=export.public_id, state=export.state, created_at=export.created_at,
                     started_at=export.started_at, ready_at=export.ready_at, expires_at=export.expires_at,
                     expired_at=export.expired_at, size_bytes=export.size,
                     failure_reason=export.failure_reason if export.state == "failed" else None,
                     download_url=url, download_url_expires_at=link_expires)


@bp.post("/me/exports")
@login_required
@endpoint("Request a copy of my personal information (a ZIP, built in the background)", response=ExportOut,
          status=202, auth=True, tags=TAGS, errors=[429], idempotent=True,
          description="One export per day (429 rate_limited with details.retry_after; a failed export does not "
                      "count). Poll GET /me/exports/{id} until state is ready, then follow download_url.")
@transactional
def request_export():
    return export_out(service.request_export(current_user._get_current_object()))


@bp.get("/me/exports")
@login_required
@endpoint("My data exports, newest first (paged)", query=PageQuery, response=ExportListOut, auth=True, tags=TAGS,
          errors=[InvalidCursor])
def list_exports(query: PageQuery):
    exports, next_cursor = service.list_own(current_user, query)
    return ExportListOut(exports=[export_out(e) for e in exports], next_cursor=next_cursor)


@bp.get("/me/exports/<export_id>")
@login_required
@endpoint("One of my data exports: state, times and, while ready, a short-lived download link",
          response=ExportOut, auth=True, tags=TAGS, errors={404: ["export_not_found"]})
def get_export(export_id: str):
    return export_out(service.get_own(current_user, export_id))


@bp.get("/me/exports/download/<token>")
@endpoint("The export archive behind a signed link (application/zip, as an attachment)", tags=TAGS, errors=[404],
          produces="application/zip",
          description="The link expires after EXPORT_DOWNLOAD_URL_TTL_S seconds, and with the export.")
def download_export(token: str):
    try:
        export_public_id, user_public_id = download_serializer().loads(
            token, max_age=current_app.config["EXPORT_DOWNLOAD_URL_TTL_S"])
    except (BadSignature, ValueError, TypeError) as exc:
        raise NotFound() from exc
    export = db.session.scalar(select(DataExport).where(DataExport.public_id == export_public_id))
    if export is None or public_id_of(export.user_id) != user_public_id or not service.is_downloadable(export):
        raise NotFound()
    data = objects.read(export.archive)
    log_operation(export.user_id, "download_export", "export", export.public_id)
    db.session.commit()
    filename = f"miaohua-export-{export.ready_at:%Y%m%d}-{export.public_id[:8]}.zip"
    return Response(data, mimetype=service.ARCHIVE_MIME,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"})
