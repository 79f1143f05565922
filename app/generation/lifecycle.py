"""Generation's personal-data lifecycle: jobs and their results (images, videos, digital avatars).

Results are face-derived: withdrawing ``face_processing`` stops the user's jobs and destroys every
result; withdrawing ``avatar_storage`` destroys the stored avatars. Each destroyed result loses both
stored objects (file and data key) at once and leaves a deletion receipt.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import and_, func, select
from sqlalchemy.orm import selectinload

from app.core import objects
from app.core.db import utcnow
from app.core.i18n import N_, _l
from app.core.lifecycle import ExportArchive, Holding, Lifecycle, Processing, ReplayTarget, RetentionClass, ts
from app.extensions import db
from app.privacy.receipts import write_receipt
from app.privacy.retention import batches, in_batch
from app.uploads import services as uploads

from . import services
from .models import FINISHED, GenerationJob, GenerationResult, JobStatus

log = logging.getLogger(__name__)

FACE_PROCESSING, AVATAR_STORAGE = "face_processing", "avatar_storage"
RETENTION_REASON = "retention_expired"
OBJECT_KINDS = ("result_original", "result_preview")
_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "video/mp4": "mp4"}
RESULTS_NOTE = ("图片：已购买高清下载的为高清原图，否则为带水印的预览图；视频为视频文件本身。 "
                "Images: the HD original where you bought the HD download, otherwise the watermarked preview; "
                "videos: the video file itself.")


def _count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def holdings(user_id: int) -> list[Holding]:
    return [Holding("jobs", _count(GenerationJob, GenerationJob.user_id == user_id), _l("90 days")),
            Holding("results", _count(GenerationResult, GenerationResult.user_id == user_id,
                                      GenerationResult.deleted_at.is_(None)), _l("90 days"))]


# --- deleting -----------------------------------------------------------------------------------------

def destroy_result(result: GenerationResult, reason: str, data_kind: str = "result_image") -> None:
    """Both stored objects go at once (file and data key); the row stays marked deleted (its links 404)."""
    for stored in (result.original, result.preview):
        if stored is not None and stored.destroyed_at is None:
            objects.destroy(stored)
    result.deleted_at = result.deleted_at or utcnow()
    write_receipt(result.user_id, data_kind, result.public_id, reason)


def _avatar_styles() -> list[str]:
    return [s.id for s in services.catalogue() if s.kind == "avatar"]


def _live_results(user_id: int, *, avatars_only: bool = False):
    query = select(GenerationResult).where(GenerationResult.user_id == user_id, GenerationResult.deleted_at.is_(None))
    if avatars_only:
        query = query.join(GenerationJob).where(GenerationJob.style_id.in_(_avatar_styles()))
    return list(db.session.scalars(query.order_by(GenerationResult.id)))


def delete_results(user_id: int, reason: str) -> None:
    for result in _live_results(user_id):
        destroy_result(result, reason)


def delete_avatars(user_id: int, reason: str, data_kind: str = "result_image") -> None:
    for result in _live_results(user_id, avatars_only=True):
        destroy_result(result, reason, data_kind)


def stop_jobs(user_id: int) -> None:
    jobs = db.session.scalars(select(GenerationJob).where(
        GenerationJob.user_id == user_id, GenerationJob.status.in_([JobStatus.QUEUED, JobStatus.RUNNING])))
    for job in list(jobs):
        services.cancel(job, commit=False)  # the caller's transaction commits it


def erase(user_id: int, reason: str) -> None:
    for job in list(db.session.scalars(select(GenerationJob).where(GenerationJob.user_id == user_id,
                                                                   GenerationJob.status.not_in(FINISHED)))):
        services.cancel(job, commit=False)
    delete_results(user_id, f"account_cancelled:{reason}")


def on_consent_withdrawn(user_id: int, purpose: str, reason: str) -> None:
    if purpose == FACE_PROCESSING:  # no face processing any more: stop, and nothing face-derived stays
        stop_jobs(user_id)
        for result in _live_results(user_id):
            destroy_result(result, reason, "avatar" if result.job.style_id in _avatar_styles() else "result_image")
    elif purpose == AVATAR_STORAGE:  # "撤回后立即删除"
        delete_avatars(user_id, reason, "avatar")


# --- retention ----------------------------------------------------------------------------------------

_results, _jobs = GenerationResult.__table__, GenerationJob.__table__


def _results_due(cutoff: datetime):
    return and_(_results.c.deleted_at.is_(None), _results.c.created_at <= cutoff)


def _jobs_due(cutoff: datetime):
    live_result = select(_results.c.id).where(_results.c.job_id == _jobs.c.id,
                                              _results.c.deleted_at.is_(None)).exists()
    return and_(_jobs.c.status.in_(("succeeded", "failed", "cancelled")),
                func.coalesce(_jobs.c.finished_at, _jobs.c.created_at) <= cutoff, ~live_result,
                ~uploads.live_source_exists(_jobs.c.public_id))


def _sweep_results(now: datetime, cutoff: datetime | None, batch_size: int) -> int:
    """Destroy both stored objects of each due result, mark it deleted, write a receipt (which logs it for
    backups), a batch per transaction. The row itself goes later, with its job."""
    assert cutoff is not None
    where = _results_due(cutoff)
    total = 0
    for window in batches(_results, where, batch_size):
        batch = db.session.scalars(
            select(GenerationResult).where(in_batch(_results, window, where))
            .options(selectinload(GenerationResult.original), selectinload(GenerationResult.preview))
            .with_for_update(of=GenerationResult, skip_locked=True)).all()
        for result in batch:
            destroy_result(result, RETENTION_REASON)
        db.session.commit()  # a batch per transaction: the sweep is its own job boundary
        total += len(batch)
    return total


RETENTION = (
    RetentionClass("results", N_("generated images and videos (both stored objects)"), "creation", "delete", 10,
                   table=_results, due=_results_due, sweep=_sweep_results),
    RetentionClass("generation_jobs", N_("finished generation jobs whose results and sources are gone"), "finish",
                   "delete", 20, table=_jobs, due=_jobs_due),
)


# --- export -------------------------------------------------------------------------------------------

def _jobs_section(user_id: int) -> list[dict[str, Any]]:
    jobs = list(db.session.scalars(select(GenerationJob).where(GenerationJob.user_id == user_id)
                                   .order_by(GenerationJob.id)))
    sources = uploads.sources_by_job(user_id)
    return [{"id": j.public_id, "style": j.style_id, "status": j.status, "progress": j.progress,
             "error_code": j.error_code, "error_message": j.error_message, "uploads": sources.get(j.public_id, []),
             "results": [r.public_id for r in j.results], "created_at": ts(j.created_at),
             "started_at": ts(j.started_at), "finished_at": ts(j.finished_at),
             "sources_deleted_at": ts(j.sources_deleted_at)} for j in jobs]


def _results_section(user_id: int, archive: ExportArchive) -> list[dict[str, Any]]:
    from app.orders.entitlements import has_hd, paid_job_ids

    rows = list(db.session.scalars(select(GenerationResult).where(GenerationResult.user_id == user_id)
                                   .order_by(GenerationResult.id)))
    paid_jobs = paid_job_ids({result.job_id for result in rows})
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


def export(user_id: int, archive: ExportArchive) -> None:
    jobs = _jobs_section(user_id)
    archive.add_json("jobs.json", "jobs", {"jobs": jobs}, records=len(jobs))
    results = _results_section(user_id, archive)
    archive.add_json("results.json", "results", {"note": RESULTS_NOTE, "results": results}, records=len(results))


def _delete_category(category: str):
    def delete(user_id: int, reason: str) -> None:
        (delete_avatars if category == "avatar" else delete_results)(user_id, reason)
    return delete


def lifecycle() -> Lifecycle:
    retention_days = current_app.config["RETENTION"]["results"]["days"]
    return Lifecycle(
        domain="generation", holdings=holdings, export=export, erase=erase, erase_order=10,
        on_consent_withdrawn=on_consent_withdrawn, retention=RETENTION, object_kinds=OBJECT_KINDS,
        receipt_kinds={kind: ReplayTarget(_results.name) for kind in ("result_image", "avatar")},
        categories={"results": _delete_category("results"), "avatar": _delete_category("avatar")},
        processing=(
            Processing("生成图片、视频与数字分身", "单独同意（《个人信息保护法》第二十九条，敏感个人信息）",
                       "人像照片（生成后立即删除）、生成任务、生成结果（加密保存）",
                       f"生成结果 {retention_days} 天；源照片在任务结束时删除", consent=FACE_PROCESSING),
            Processing("保存数字分身", "单独同意（《个人信息保护法》第二十九条）", "数字分身图片（加密保存）",
                       "撤回同意后立即删除，否则与生成结果相同", consent=AVATAR_STORAGE),
        ))
