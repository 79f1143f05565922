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

from app.accounts.models import Device, LoginSession, User, WechatIdentity
from app.consent.models import AgeDeclaration, ConsentRecord, GuardianConsent
from app.core import events, objects
from app.core.db import utcnow
from app.core.errors import NotFound, RateLimited
from app.core.jobs import require_queue
from app.core.pagination import PageQuery, paginate
from app.extensions import db
from app.generation.models import GenerationJob, GenerationResult
from app.orders.models import CreditUse, Entitlement, Order
from app.orders.products import PRODUCTS
from app.uploads.models import Upload

from .export_models import DataExport, ExportState
from .models import DeletionReceipt, OperationLog
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

_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "video/mp4": "mp4"}


class ExportNotFound(NotFound):
    code, message = "export_not_found", "No such export."


# --- requesting and reading ----------------------------------------------------------------------

def request_export(user: User, now: datetime | None = None) -> DataExport:
    """Create a pending export and enqueue its job after the commit (429 if one was made in the last day)."""
    from .export_tasks import build_export

    now = now or utcnow()
    require_queue()
    # Serialise concurrent requests of one user on PostgreSQL (the user row is the lock; SQLite
    # serialises writers anyway), so two simultaneous taps cannot both pass the quota check.
    db.session.execute(select(User.id).where(User.id == user.id).with_for_update())
    latest = db.session.scalar(select(DataExport).where(
        DataExport.user_id == user.id, DataExport.state != ExportState.FAILED,
        DataExport.created_at > now - QUOTA_WINDOW).order_by(DataExport.created_at.desc()).limit(1))
    if latest is not None:
        retry_after = max(1, math.ceil((latest.created_at + QUOTA_WINDOW - now).total_seconds()))
        db.session.rollback()
        raise RateLimited(retry_after=retry_after,
                          message="You can request one copy of your data per day.",
                          details={"export": latest.public_id})
    export = DataExport(user_id=user.id, state=ExportState.PENDING, created_at=now)
    db.session.add(export)
    db.session.flush()
    export.rq_job_id = build_export.enqueue_after_commit(export.id)
    db.session.commit()
    return export


def list_own(user: User, page: PageQuery) -> tuple[list[DataExport], str | None]:
    """Newest first, one page (see ``app.core.pagination``)."""
    return paginate(select(DataExport).where(DataExport.user_id == user.id), page,
                    DataExport.created_at.desc(), DataExport.id.desc())


def get_own(user: User, public_id: str) -> DataExport:
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
    db.session.commit()
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


def _on_account_cancelled(sender: Any, user_id: int, **_: Any) -> None:
    destroy_exports_of_user(user_id, "account_cancelled")


def connect() -> None:
    events.account_cancelled.connect(_on_account_cancelled, weak=False)


# --- the archive ---------------------------------------------------------------------------------

def ts(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC, e.g. ``2024-07-04T08:30:00Z``."""
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


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
    """The user's personal information as a ZIP (bytes, in memory). The format is EXPORT_README.zh.md."""
    exported_at = exported_at or utcnow()
    user = db.session.get(User, user_id)
    if user is None:
        raise LookupError(f"user {user_id} not found")
    archive = _Archive(exported_at)
    archive.add("README.md", readme().encode("utf-8"))
    archive.add_json("profile.json", "profile", {"profile": _profile(user)})
    devices, device_refs = _devices(user_id)
    archive.add_json("devices.json", "devices", {"devices": devices}, records=len(devices))
    sessions = _sessions(user_id, device_refs, exported_at)
    archive.add_json("sessions.json", "sessions", {"sessions": sessions}, records=len(sessions))
    consents = _consents(user_id)
    archive.add_json("consents.json", "consents", consents, records=len(consents["records"]))
    uploads = _uploads(user_id)
    archive.add_json("uploads.json", "uploads", {"note": UPLOADS_NOTE, "uploads": uploads}, records=len(uploads))
    jobs = _jobs(user_id)
    archive.add_json("jobs.json", "jobs", {"jobs": jobs}, records=len(jobs))
    results = _results(user_id, archive)
    archive.add_json("results.json", "results", {"note": RESULTS_NOTE, "results": results}, records=len(results))
    orders = _orders(user_id)
    archive.add_json("orders.json", "orders", orders, records=len(orders["orders"]))
    operations = _operations(user_id)
    archive.add_json("operation_log.json", "operation_log", {"operations": operations}, records=len(operations))
    receipts = _receipts(user_id)
    archive.add_json("deletion_receipts.json", "deletion_receipts", {"receipts": receipts}, records=len(receipts))
    from app.support.export import tickets_of

    tickets = tickets_of(user_id)
    archive.add_json("support_tickets.json", "support_tickets", {"tickets": tickets}, records=len(tickets))
    from app.notices.lifecycle import notices_of

    notices = notices_of(user_id)
    archive.add_json("notices.json", "notices", {"notices": notices}, records=len(notices))
    return archive.close(user.public_id)


UPLOADS_NOTE = ("源照片在生成任务结束时即被删除（未被使用的照片在上传后不久即被删除），因此本副本只包含照片的记录，"
                "不包含照片本身；删除凭证见 deletion_receipts.json。 "
                "Source photos are deleted as soon as the generation job ends (unused ones shortly after upload), "
                "so this copy holds their records, not the photos; see deletion_receipts.json.")


def readme() -> str:
    """EXPORT_README.zh.md with this deployment's retention periods filled in."""
    config = current_app.config
    return (README_SOURCE.read_text(encoding="utf-8")
            .replace("{{ttl_days}}", str(config["EXPORT_TTL_DAYS"]))
            .replace("{{unclaimed_minutes}}", str(max(1, config["UPLOAD_UNCLAIMED_TTL_S"] // 60))))
RESULTS_NOTE = ("图片：已购买高清下载的为高清原图，否则为带水印的预览图；视频为视频文件本身。 "
                "Images: the HD original where you bought the HD download, otherwise the watermarked preview; "
                "videos: the video file itself.")


def _profile(user: User) -> dict[str, Any]:
    wechat = db.session.scalars(select(WechatIdentity).where(WechatIdentity.user_id == user.id)
                                .order_by(WechatIdentity.id))
    return {"id": user.public_id, "nickname": user.nickname, "avatar_url": user.avatar_url,
            "phone_masked": user.phone_masked, "phone_bound_at": ts(user.phone_bound_at), "status": user.status,
            "wechat_logins": [{"linked_at": ts(identity.created_at)} for identity in wechat],
            "created_at": ts(user.created_at), "updated_at": ts(user.updated_at),
            "last_login_at": ts(user.last_login_at)}


def _devices(user_id: int) -> tuple[list[dict[str, Any]], dict[int, str]]:
    devices = list(db.session.scalars(select(Device).where(Device.user_id == user_id).order_by(Device.id)))
    refs = {device.id: f"device-{n}" for n, device in enumerate(devices, start=1)}
    return [{"ref": refs[d.id], "model": d.model, "os": d.os, "app_version": d.app_version,
             "first_seen_at": ts(d.first_seen_at), "last_seen_at": ts(d.last_seen_at)} for d in devices], refs


def _sessions(user_id: int, device_refs: dict[int, str], now: datetime) -> list[dict[str, Any]]:
    rows = db.session.scalars(select(LoginSession).where(LoginSession.user_id == user_id)
                              .order_by(LoginSession.created_at, LoginSession.id))
    return [{"id": s.public_id, "method": s.method, "device": device_refs.get(s.device_id) if s.device_id else None,
             "created_at": ts(s.created_at), "last_seen_at": ts(s.last_seen_at), "expires_at": ts(s.expires_at),
             "revoked_at": ts(s.revoked_at), "revoked_reason": s.revoked_reason,
             "active": s.revoked_at is None and s.expires_at > now} for s in rows]


def _consents(user_id: int) -> dict[str, Any]:
    records = db.session.scalars(select(ConsentRecord).where(ConsentRecord.user_id == user_id)
                                 .order_by(ConsentRecord.id))
    ages = db.session.scalars(select(AgeDeclaration).where(AgeDeclaration.user_id == user_id)
                              .order_by(AgeDeclaration.id))
    guardians = db.session.scalars(select(GuardianConsent).where(GuardianConsent.user_id == user_id)
                                   .order_by(GuardianConsent.id))
    return {
        "records": [{"purpose": r.purpose, "action": r.action, "policy_version": r.policy_version_id,
                     "channel": r.channel, "client": r.client_info or {}, "by_guardian": r.guardian_consent_id
                     is not None, "at": ts(r.created_at)} for r in records],
        "age_declarations": [{"birth_year": a.birth_year, "adult_confirmed": a.adult_confirmed,
                              "declared_at": ts(a.created_at)} for a in ages],
        "guardian_consents": [{"guardian_phone_masked": g.guardian_phone_masked, "relation": g.relation,
                               "purposes": list(g.purposes), "policy_version": g.policy_version_id,
                               "given_at": ts(g.given_at), "withdrawn_at": ts(g.withdrawn_at)} for g in guardians],
    }


def _uploads(user_id: int) -> list[dict[str, Any]]:
    rows = db.session.scalars(select(Upload).where(Upload.user_id == user_id).order_by(Upload.id))
    return [{"id": u.public_id, "status": u.status, "declaration": u.declaration, "width": u.width,
             "height": u.height, "source_format": u.source_format, "job": u.claimed_by,
             "rejection_reason": u.rejection_reason, "created_at": ts(u.created_at),
             "reviewed_at": ts(u.reviewed_at), "deleted_at": ts(u.deleted_at), "delete_reason": u.delete_reason,
             "photo_included": False} for u in rows]


def _jobs(user_id: int) -> list[dict[str, Any]]:
    jobs = list(db.session.scalars(select(GenerationJob).where(GenerationJob.user_id == user_id)
                                   .order_by(GenerationJob.id)))
    sources: dict[str, list[str]] = {}
    for public_id, claimed_by in db.session.execute(select(Upload.public_id, Upload.claimed_by).where(
            Upload.user_id == user_id, Upload.claimed_by.is_not(None)).order_by(Upload.id)):
        sources.setdefault(claimed_by, []).append(public_id)
    return [{"id": j.public_id, "style": j.style_id, "status": j.status, "progress": j.progress,
             "error_code": j.error_code, "error_message": j.error_message, "uploads": sources.get(j.public_id, []),
             "results": [r.public_id for r in j.results], "created_at": ts(j.created_at),
             "started_at": ts(j.started_at), "finished_at": ts(j.finished_at),
             "sources_deleted_at": ts(j.sources_deleted_at)} for j in jobs]


def _results(user_id: int, archive: _Archive) -> list[dict[str, Any]]:
    from app.orders.entitlements import has_hd

    rows = list(db.session.scalars(select(GenerationResult).where(GenerationResult.user_id == user_id)
                                   .order_by(GenerationResult.id)))
    paid_jobs = set(db.session.scalars(
        select(CreditUse.job_id).join(GenerationJob, GenerationJob.id == CreditUse.job_id)
        .where(GenerationJob.user_id == user_id, CreditUse.returned_at.is_(None))))
    out = []
    for result in rows:
        hd = has_hd(user_id, result.public_id, result.job.public_id)
        if result.kind == "image":
            stored, variant = (result.original, "original") if hd else (result.preview, "preview")
        elif hd or result.job_id in paid_jobs:
            stored, variant = result.original, "original"
        else:
            stored, variant = None, None
        entry: dict[str, Any] = {"id": result.public_id, "job": result.job.public_id, "kind": result.kind,
                                 "mime_type": result.mime_type, "width": result.width, "height": result.height,
                                 "hd_entitlement": hd, "created_at": ts(result.created_at),
                                 "deleted_at": ts(result.deleted_at), "file": None, "file_variant": None,
                                 "file_mime_type": None, "file_note": None}
        if result.deleted_at is not None or stored is None or stored.destroyed_at is not None:
            entry["file_note"] = "deleted" if result.deleted_at is not None else "not_available"
        else:
            try:
                data = objects.read(stored)
            except Exception:  # a missing or unreadable file must not lose the rest of the export
                log.exception("export: result file unreadable", extra={"result": result.public_id})
                entry["file_note"] = "unreadable"
            else:
                name = f"results/{result.public_id}.{_EXTENSIONS.get(stored.mime_type, 'bin')}"
                archive.add(name, data, compress=False)
                entry.update(file=name, file_variant=variant, file_mime_type=stored.mime_type)
        out.append(entry)
    return out


def _orders(user_id: int) -> dict[str, Any]:
    orders = list(db.session.scalars(select(Order).where(Order.user_id == user_id).order_by(Order.id)))
    from app.orders.views import PAYMENT_STATUS

    entitlements = list(db.session.scalars(select(Entitlement).where(Entitlement.user_id == user_id)
                                           .order_by(Entitlement.id)))
    order_numbers = {o.id: o.out_trade_no for o in orders}
    return {
        "orders": [{
            "order_no": o.out_trade_no,
            "item": PRODUCTS[o.product_id].name if o.product_id in PRODUCTS else o.product_id,
            "product": o.product_id, "subject": o.subject_id, "amount_fen": o.amount_fen, "currency": o.currency,
            "created_at": ts(o.created_at), "status": o.status, "payment_method": o.payment_method,
            "payment_status": PAYMENT_STATUS.get(o.status, o.status), "wechat_transaction_id": o.transaction_id,
            "paid_at": ts(o.paid_at), "fulfilled_at": ts(o.fulfilled_at), "closed_at": ts(o.closed_at),
            "refunded_fen": o.refunded_fen,
            "events": [{"from": e.from_status, "to": e.to_status, "cause": e.cause, "at": ts(e.created_at)}
                       for e in o.events],
            "refunds": [{"refund_no": r.out_refund_no, "amount_fen": r.amount_fen, "reason": r.reason,
                         "status": r.status, "created_at": ts(r.created_at), "finished_at": ts(r.finished_at)}
                        for r in o.refunds],
        } for o in orders],
        "entitlements": [{"order_no": order_numbers.get(e.order_id), "kind": e.kind, "subject": e.subject_id,
                          "credit_kind": e.credit_kind, "credits_total": e.credits_total,
                          "credits_used": e.credits_used, "granted_at": ts(e.created_at),
                          "revoked_at": ts(e.revoked_at)} for e in entitlements],
    }


def _operations(user_id: int) -> list[dict[str, Any]]:
    rows = db.session.scalars(select(OperationLog).where(OperationLog.user_id == user_id).order_by(OperationLog.id))
    return [{"action": o.action, "subject_type": o.subject_type, "subject_id": o.subject_id, "at": ts(o.created_at)}
            for o in rows]


def _receipts(user_id: int) -> list[dict[str, Any]]:
    rows = db.session.scalars(select(DeletionReceipt).where(DeletionReceipt.user_id == user_id)
                              .order_by(DeletionReceipt.id))
    return [{"data_kind": r.data_kind, "subject_id": r.subject_id, "reason": r.reason, "deleted_at": ts(r.deleted_at)}
            for r in rows]
