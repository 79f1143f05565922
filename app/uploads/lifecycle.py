"""Uploads' personal-data lifecycle: portrait photos (sensitive: a face), deleted as soon as they are used."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import and_, func, select

from app.core.i18n import N_, _l
from app.core.lifecycle import ExportArchive, Holding, Lifecycle, Processing, ReplayTarget, RetentionClass, ts
from app.extensions import db

from . import services
from .models import Upload

FACE_PROCESSING = "face_processing"
UPLOADS_NOTE = ("源照片在生成任务结束时即被删除（未被使用的照片在上传后不久即被删除），因此本副本只包含照片的记录，"
                "不包含照片本身；删除凭证见 deletion_receipts.json。 "
                "Source photos are deleted as soon as the generation job ends (unused ones shortly after upload), "
                "so this copy holds their records, not the photos; see deletion_receipts.json.")

_uploads = Upload.__table__


def holdings(user_id: int) -> list[Holding]:
    count = db.session.scalar(select(func.count()).select_from(Upload).where(
        Upload.user_id == user_id, Upload.deleted_at.is_(None))) or 0
    return [Holding("uploads", count, _l("Deleted when the job that used them ends, or after 30 minutes unused"))]


def export(user_id: int, archive: ExportArchive) -> None:
    rows = db.session.scalars(select(Upload).where(Upload.user_id == user_id).order_by(Upload.id))
    uploads: list[dict[str, Any]] = [
        {"id": u.public_id, "status": u.status, "declaration": u.declaration, "width": u.width,
         "height": u.height, "source_format": u.source_format, "job": u.claimed_by,
         "rejection_reason": u.rejection_reason, "created_at": ts(u.created_at),
         "reviewed_at": ts(u.reviewed_at), "deleted_at": ts(u.deleted_at), "delete_reason": u.delete_reason,
         "photo_included": False} for u in rows]
    archive.add_json("uploads.json", "uploads", {"note": UPLOADS_NOTE, "uploads": uploads}, records=len(uploads))


def erase(user_id: int, reason: str) -> None:
    services.delete_all_of_user(user_id, f"account_cancelled:{reason}")


def on_consent_withdrawn(user_id: int, purpose: str, reason: str) -> None:
    if purpose == FACE_PROCESSING:
        services.delete_all_of_user(user_id, reason)


def _deleted_uploads_due(cutoff: datetime):
    return and_(_uploads.c.deleted_at.is_not(None), _uploads.c.deleted_at <= cutoff)


def lifecycle() -> Lifecycle:
    ttl_min = max(1, current_app.config["UPLOAD_UNCLAIMED_TTL_S"] // 60)
    return Lifecycle(
        domain="uploads", holdings=holdings, export=export, erase=erase, erase_order=20,
        on_consent_withdrawn=on_consent_withdrawn, object_kinds=(services.DATA_KIND,),
        receipt_kinds={services.DATA_KIND: ReplayTarget(_uploads.name)},
        categories={"uploads": lambda user_id, reason: services.delete_all_of_user(user_id, reason)},
        retention=(RetentionClass("deleted_uploads",
                                  N_("records of deleted portrait uploads (the photo is already gone)"),
                                  "deletion", "delete",
                                  30, table=_uploads, due=_deleted_uploads_due),),
        processing=(Processing("人像照片上传与内容安全检测", "单独同意（《个人信息保护法》第二十九条，敏感个人信息）",
                               "您上传的人像照片（加密保存）",
                               f"生成任务结束时删除；未使用的照片 {ttl_min} 分钟后删除",
                               "微信内容安全（深圳市腾讯计算机系统有限公司）", consent=FACE_PROCESSING),))
