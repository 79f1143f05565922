"""A copy of my personal information (policy §8(5)): requesting, building, serving and expiring exports.

- ``request_export`` creates the row (``pending``) and enqueues ``export_tasks.build_export`` after the
  commit; one export per user per rolling day (a failed export does not count: it produced nothing).
- ``run_export`` (the job) builds the ZIP **in memory** — it holds personal data, so it never becomes a
  plain file on disk — stores it encrypted as an ``export_archive`` object and marks the row
  ``ready`` with ``expires_at = now + EXPORT_TTL_DAYS``. It is idempotent: only a ``pending`` row is
  claimed (compare-and-set), and an archive whose row changed meanwhile is discarded.
- ``expire_exports`` crypto-shreds archives past ``expires_at`` (file deleted, data key dropped), marks
  them ``expired`` and writes a deletion receipt; it also fails exports stuck in ``pending``/``running``
  (a lost job or a dead worker) so the user can ask again.
- ``build_archive`` is the archive format, documented for users in ``EXPORT_README.zh.md`` (shipped
  inside every archive as ``README.md``).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from app.core import lifecycle, objects
from app.core.db import utcnow
from app.core.errors import NotFound, RateLimited
from app.core.jobs import require_queue
from app.core.lifecycle import ts
from app.core.pagination import PageQuery, paginate
from app.extensions import db

from .export_models import DataExport, ExportState
from .receipts import write_receipt

log = logging.getLogger(__name__)

ARCHIVE_KIND = "export_archive"  # the StoredObject kind and the deletion receipts' data_kind
ARCHIVE_MIME = "application/zip"
FORMAT_NAME = "miaohua-personal-data-export"
FORMAT_VERSION = 1
QUOTA_WINDOW = timedelta(days=1)
STALE_AFTER = timedelta(hours=1)  # far beyond the job's time limit: a pending/running export this old is lost
README_SOURCE = Path(__file__).with_name("EXPORT_README.zh.md")

BUILD_FAILED_REASON = "导出文件生成失败，请重新申请。We could not build your export; please request it again."
STALE_REASON = "导出处理超时，请重新申请。Your export took too long and was stopped; please request it again."

class ExportNotFound(NotFound):
    code, message = "export_not_found", "No such export."


# --- requesting and reading ----------------------------------------------------------------------

def request_export(user, now: datetime | None = None) -> DataExport:
    """Create a pending export and enqueue its job after the commit (429 if one was made in the last day);
    the request boundary commits."""
    from .export_tasks import build_export

    now = now or utcnow()
    require_queue()
    # Serialise concurrent requests of one user on PostgreSQL (the user row is the lock; SQLite
    # serialises writers anyway), so two simultaneous taps cannot both pass the quota check.
    from app.accounts.services import lock_user

    lock_user(user.id)
    latest = db.session.scalar(select(DataExport).where(
        DataExport.user_id == user.id, DataExport.state != ExportState.FAILED,
        DataExport.created_at > now - QUOTA_WINDOW).order_by(DataExport.created_at.desc()).limit(1))
    if latest is not None:
        retry_after = max(1, math.ceil((latest.created_at + QUOTA_WINDOW - now).total_seconds()))
        raise RateLimited(retry_after=retry_after,
                          message="You can request one copy of your data per day.",
                          details={"export": latest.public_id})
    export = DataExport(user_id=user.id, state=ExportState.PENDING, created_at=now)
    db.session.add(export)
    db.session.flush()
    export.rq_job_id = build_export.enqueue_after_commit(export.id)
    db.session.flush()
    return export


def list_own(user, page: PageQuery) -> tuple[list[DataExport], str | None]:
    """Newest first, one page (see ``app.core.pagination``)."""
    return paginate(select(DataExport).where(DataExport.user_id == user.id), page,
                    DataExport.created_at.desc(), DataExport.id.desc())


def get_own(user, public_id: str) -> DataExport:
    export = db.session.scalar(select(DataExport).where(DataExport.public_id == public_id,
                                                        DataExport.user_id == user.id))
    if export is None:
        raise ExportNotFound()
    return export


def is_downloadable(export: DataExport, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return (export.state == ExportState.READY and export.archive is not None
            and export.archive.destroyed_at is None and export.expires_at is not None and export.expires_at > now)


# --- the job -------------------------------------------------------------------------------------

def run_export(export_id: int) -> str:
    """Build, encrypt and store the archive of one export. Idempotent: anything but ``pending`` is left alone."""
    now = utcnow()
    claimed = db.session.execute(update(DataExport)
                                 .where(DataExport.id == export_id, DataExport.state == ExportState.PENDING)
                                 .values(state=ExportState.RUNNING, started_at=now))
    db.session.commit()  # a job's progress write: the claim is visible before the long build (no second runner)
    if claimed.rowcount != 1:
        return "skipped"
    export = db.session.get(DataExport, export_id)
    if export is None:  # the account went away between the two statements
        return "skipped"
    stored: objects.StoredObject | None = None
    try:
        archive = build_archive(export.user_id, now)
        stored = objects.store(ARCHIVE_KIND, archive, ARCHIVE_MIME)
        db.session.flush()
        ready_at = utcnow()
        done = db.session.execute(update(DataExport)
                                  .where(DataExport.id == export_id, DataExport.state == ExportState.RUNNING)
                                  .values(state=ExportState.READY, object_id=stored.id, size=len(archive),
                                          ready_at=ready_at, expires_at=ready_at + ttl()))
        if done.rowcount != 1:  # expired, failed by the sweep, or the account was deleted meanwhile
            db.session.rollback()
            objects.discard_unsaved(stored)
            return "discarded"
        db.session.commit()
    except Exception:
        log.exception("export failed", extra={"export_id": export_id})
        db.session.rollback()
        if stored is not None:
            objects.discard_unsaved(stored)
        db.session.execute(update(DataExport)
                           .where(DataExport.id == export_id, DataExport.state == ExportState.RUNNING)
                           .values(state=ExportState.FAILED, failure_code="build_failed",
                                   failure_reason=BUILD_FAILED_REASON))
        db.session.commit()
        return "failed"
    log.info("export ready", extra={"export_id": export_id, "bytes": len(archive)})
    return "ready"


def ttl() -> timedelta:
    return timedelta(days=current_app.config["EXPORT_TTL_DAYS"])


# --- expiry --------------------------------------------------------------------------------------

def expire_exports(now: datetime | None = None) -> dict[str, int]:
    """Shred archives past their expiry (receipt ``export_expired``); fail exports stuck in pending/running."""
    now = now or utcnow()
    counts = {"expired": 0, "stale_failed": 0}
    due = list(db.session.scalars(select(DataExport).where(DataExport.state == ExportState.READY,
                                                           DataExport.expires_at <= now).with_for_update()))
    for export in due:
        _shred(export, "export_expired", now)
        counts["expired"] += 1
    stale = db.session.execute(update(DataExport).where(
        DataExport.state.in_([ExportState.PENDING, ExportState.RUNNING]),
        DataExport.created_at <= now - STALE_AFTER).values(state=ExportState.FAILED, failure_code="timed_out",
                                                           failure_reason=STALE_REASON))
    counts["stale_failed"] = stale.rowcount or 0
    db.session.commit()
    if any(counts.values()):
        log.info("exports swept", extra=counts)
    return counts


def _shred(export: DataExport, reason: str, now: datetime) -> None:
    if export.archive is not None and export.archive.destroyed_at is None:
        objects.destroy(export.archive)
    export.state = ExportState.EXPIRED
    export.expired_at = export.expired_at or now
    write_receipt(export.user_id, ARCHIVE_KIND, export.public_id, reason)


def destroy_exports_of_user(user_id: int, reason: str) -> int:
    """Shred every archive the user still has (account cancellation); the caller commits."""
    now = utcnow()
    exports = list(db.session.scalars(select(DataExport).where(DataExport.user_id == user_id,
                                                               DataExport.state == ExportState.READY)))
    for export in exports:
        _shred(export, reason, now)
    return len(exports)


# --- the archive ---------------------------------------------------------------------------------

@dataclass
class _Archive:
    """The ZIP being written, in memory only, with a manifest of what went in."""

    exported_at: datetime
    buffer: io.BytesIO = field(default_factory=io.BytesIO)
    files: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.zip = zipfile.ZipFile(self.buffer, "w", allowZip64=True)

    def add(self, name: str, data: bytes, *, compress: bool = True, records: int | None = None) -> None:
        info = zipfile.ZipInfo(name, date_time=self.exported_at.timetuple()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.external_attr = 0o600 << 16
        self.zip.writestr(info, data)
        entry: dict[str, Any] = {"name": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        if records is not None:
            entry["records"] = records
        self.files.append(entry)

    def add_json(self, name: str, schema: str, payload: dict[str, Any], records: int | None = None) -> None:
        document = {"schema": f"{schema}/{FORMAT_VERSION}", **payload}
        self.add(name, json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8"), records=records)

    def close(self, user_public_id: str) -> bytes:
        manifest = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "exported_at": ts(self.exported_at),
                    "user": user_public_id, "files": self.files}
        self.add("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8"))
        self.zip.close()
        return self.buffer.getvalue()


def build_archive(user_id: int, exported_at: datetime | None = None) -> bytes:
    """The user's personal information as a ZIP (bytes, in memory). The format is EXPORT_README.zh.md.

    Each domain writes its own sections (its ``Lifecycle.export``), in the registry's order."""
    exported_at = exported_at or utcnow()
    from app.accounts.services import public_id_of

    public_id = public_id_of(user_id)
    if public_id is None:
        raise LookupError(f"user {user_id} not found")
    archive = _Archive(exported_at)
    archive.add("README.md", readme().encode("utf-8"))
    lifecycle.export(user_id, archive)
    return archive.close(public_id)


def readme() -> str:
    """EXPORT_README.zh.md with this deployment's retention periods and processing register filled in."""
    from .register import register_markdown

    config = current_app.config
    return (README_SOURCE.read_text(encoding="utf-8")
            .replace("{{ttl_days}}", str(config["EXPORT_TTL_DAYS"]))
            .replace("{{unclaimed_minutes}}", str(max(1, config["UPLOAD_UNCLAIMED_TTL_S"] // 60)))
            .replace("{{processing_register}}", register_markdown()))
