from __future__ import annotations

from sqlalchemy import select

from app.core.db import utcnow
from app.core.pagination import PageQuery, paginate
from app.extensions import db

from .models import DeletionReceipt


def write_receipt(user_id: int | None, data_kind: str, subject_id: str, reason: str) -> DeletionReceipt:
    receipt = DeletionReceipt(user_id=user_id, data_kind=data_kind, subject_id=subject_id, reason=reason,
                              deleted_at=utcnow())
    db.session.add(receipt)
    from .deletion_log import log_receipt  # every deletion is also logged (ids only) for replay after a restore

    log_receipt(receipt)
    return receipt


def receipts_of(user_id: int, page: PageQuery) -> tuple[list[DeletionReceipt], str | None]:
    """Newest first, one page (see ``app.core.pagination``)."""
    return paginate(select(DeletionReceipt).where(DeletionReceipt.user_id == user_id), page,
                    DeletionReceipt.id.desc())


def log_operation(user_id: int, action: str, subject_type: str, subject_id: str) -> None:
    from .models import OperationLog

    db.session.add(OperationLog(user_id=user_id, action=action, subject_type=subject_type, subject_id=subject_id,
                                created_at=utcnow()))


def operations_of(user_id: int, page: PageQuery) -> tuple[list, str | None]:
    """Newest first, one page (see ``app.core.pagination``)."""
    from .models import OperationLog

    return paginate(select(OperationLog).where(OperationLog.user_id == user_id), page, OperationLog.id.desc())
