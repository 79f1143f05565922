from __future__ import annotations

from datetime import datetime

from flask import Blueprint
from flask_login import current_user
from pydantic import BaseModel

from app.accounts.auth import login_required
from app.core.api import API_PREFIX, endpoint

from .receipts import receipts_of

bp = Blueprint("privacy", __name__, url_prefix=API_PREFIX)


class ReceiptOut(BaseModel):
    data_kind: str
    subject_id: str
    reason: str
    deleted_at: datetime


class ReceiptsOut(BaseModel):
    receipts: list[ReceiptOut]


@bp.get("/me/deletion-receipts")
@login_required
@endpoint("What was deleted, when and why (\"your source photos were deleted at …\")", response=ReceiptsOut,
          auth=True, tags=("privacy",))
def deletion_receipts():
    return ReceiptsOut(receipts=[ReceiptOut(data_kind=r.data_kind, subject_id=r.subject_id, reason=r.reason,
                                            deleted_at=r.deleted_at) for r in receipts_of(current_user.id)])
