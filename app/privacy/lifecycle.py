"""Privacy's own personal data: operation logs, deletion receipts, rights requests, export archives,
and the deletion log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import func, select, update

from app.core.i18n import N_, _l
from app.core.lifecycle import (
    ExportArchive,
    Holding,
    Lifecycle,
    Processing,
    ReplayTarget,
    RetentionClass,
    SealedColumn,
    SealedFiles,
    ts,
)
from app.extensions import db

from .models import DeletionReceipt, DeletionRequest, OperationLog
from .receipts import write_receipt

_logs, _receipts = OperationLog.__table__, DeletionReceipt.__table__


def _count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def holdings(user_id: int) -> list[Holding]:
    return [Holding("operation_logs", _count(OperationLog, OperationLog.user_id == user_id), _l("180 days")),
            Holding("deletion_receipts", _count(DeletionReceipt, DeletionReceipt.user_id == user_id), _l("3 years"))]


def export(user_id: int, archive: ExportArchive) -> None:
    rows = db.session.scalars(select(OperationLog).where(OperationLog.user_id == user_id).order_by(OperationLog.id))
    operations: list[dict[str, Any]] = [{"action": o.action, "subject_type": o.subject_type,
                                         "subject_id": o.subject_id, "at": ts(o.created_at)} for o in rows]
    archive.add_json("operation_log.json", "operation_log", {"operations": operations}, records=len(operations))
    receipts = [{"data_kind": r.data_kind, "subject_id": r.subject_id, "reason": r.reason,
                 "deleted_at": ts(r.deleted_at)}
                for r in db.session.scalars(select(DeletionReceipt).where(DeletionReceipt.user_id == user_id)
                                            .order_by(DeletionReceipt.id))]
    archive.add_json("deletion_receipts.json", "deletion_receipts", {"receipts": receipts}, records=len(receipts))


def delete_operation_logs(user_id: int, reason: str) -> None:
    from sqlalchemy import delete

    from app.accounts.services import public_id_of

    public_id = public_id_of(user_id)
    db.session.execute(delete(OperationLog).where(OperationLog.user_id == user_id))
    write_receipt(user_id, "operation_logs", public_id, reason)


def erase(user_id: int, reason: str) -> None:
    """The export archives are shredded; the account's receipt is written; receipts stay, without the user."""
    from app.accounts.services import public_id_of

    from .export import destroy_exports_of_user

    destroy_exports_of_user(user_id, "account_cancelled")
    write_receipt(None, "account", public_id_of(user_id), f"account_cancelled:{reason}")
    db.session.flush()
    db.session.execute(update(DeletionReceipt).where(DeletionReceipt.user_id == user_id).values(user_id=None))


def _sweep_exports(now: datetime, cutoff: datetime | None, batch_size: int) -> int:
    from .export import expire_exports

    return int(expire_exports(now)["expired"])


def sealed_columns() -> list[SealedColumn]:
    from .rights import NOTE_PURPOSE

    return [SealedColumn(DeletionRequest, "note_ciphertext", NOTE_PURPOSE)]


def lifecycle() -> Lifecycle:
    from . import deletion_log_copy
    from .deletion_log import DeletionLogEntry
    from .export import ARCHIVE_KIND
    from .export_models import DataExport

    log_table = DeletionLogEntry.__table__
    config = current_app.config
    return Lifecycle(
        domain="privacy", holdings=holdings, export=export, erase=erase, erase_order=90,
        sealed_columns=sealed_columns, object_kinds=(ARCHIVE_KIND,),
        # The deletion log's off-database copies: sealed with the keyring, read after a restore.
        sealed_files=(SealedFiles(deletion_log_copy.PREFIX, deletion_log_copy.PURPOSE),),
        categories={"operation_logs": delete_operation_logs},
        receipt_kinds={ARCHIVE_KIND: ReplayTarget(DataExport.__tablename__),
                       "data_export": ReplayTarget(DataExport.__tablename__),  # receipts written before #15
                       "operation_logs": ReplayTarget(_logs.name, key="user", action="delete")},
        retention=(
            RetentionClass("operation_logs", N_("operation logs (generated, downloaded, shared)"), "the action",
                           "delete", 40, table=_logs, due=lambda cutoff: _logs.c.created_at <= cutoff),
            RetentionClass("exports", N_("data export archives (file and key)"),
                           "the archive being ready (EXPORT_TTL_DAYS)", "delete", 70, sweep=_sweep_exports,
                           enforced_by="app.privacy.export.expire_exports", uses_cutoff=False),
            RetentionClass("deletion_receipts", N_("deletion receipts"), "the deletion", "delete", 110, table=_receipts,
                           due=lambda cutoff: _receipts.c.deleted_at <= cutoff),
            RetentionClass("deletion_log", N_("the deletion log (ids only; must outlive the oldest restorable backup)"),
                           "the deletion", "delete", 120, table=log_table,
                           due=lambda cutoff: log_table.c.deleted_at <= cutoff, log_deletions=False),
        ),
        processing=(
            Processing("操作记录（生成、下载、分享）", "履行合同所必需（《个人信息保护法》第十三条第二项）",
                       "操作类型、对象编号、时间", f"{config['RETENTION']['operation_logs']['days']} 天"),
            Processing("响应您的权利请求（删除、注销、复制）", "履行法定义务（《个人信息保护法》第四章）",
                       "请求记录、删除凭证（只含编号，不含内容）、个人信息副本（加密保存）",
                       f"删除凭证 {config['RETENTION']['deletion_receipts']['days'] // 365} 年；"
                       f"副本 {config['EXPORT_TTL_DAYS']} 天"),
        ))
