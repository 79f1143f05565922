from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from flask import Blueprint
from flask_login import current_user
from pydantic import BaseModel, Field

from app.accounts.auth import login_required
from app.core import chinatime
from app.core.api import API_PREFIX, endpoint
from app.core.i18n import _
from app.core.pagination import InvalidCursor, PageOut, PageQuery
from app.core.transaction import transactional

from . import labels, rights
from .receipts import operations_of, receipts_of

bp = Blueprint("privacy", __name__, url_prefix=API_PREFIX)


class ReceiptOut(BaseModel):
    data_kind: str
    data_kind_label: str = Field(description="What was deleted, in the request's language")
    subject_id: str
    reason: str
    reason_text: str = Field(description="Why, in the request's language")
    deleted_at: datetime
    deleted_at_beijing: str = Field(description="When, as shown to the user: Beijing time, YYYY-MM-DD HH:MM")


class ReceiptsOut(PageOut):
    receipts: list[ReceiptOut]


@bp.get("/me/deletion-receipts")
@login_required
@endpoint("What was deleted, when and why (\"your source photos were deleted at …\")", response=ReceiptsOut,
          query=PageQuery, auth=True, tags=("privacy",), errors=[InvalidCursor])
def deletion_receipts(query: PageQuery):
    receipts, next_cursor = receipts_of(current_user.id, query)
    return ReceiptsOut(receipts=[ReceiptOut(data_kind=r.data_kind, data_kind_label=labels.data_kind_label(r.data_kind),
                                            subject_id=r.subject_id, reason=r.reason,
                                            reason_text=labels.reason_text(r.reason), deleted_at=r.deleted_at,
                                            deleted_at_beijing=chinatime.format_beijing(r.deleted_at))
                                 for r in receipts], next_cursor=next_cursor)


class OperationOut(BaseModel):
    action: str = Field(description="generate, download_preview, download_original, share, download_export")
    action_label: str = Field(description="The action in the request's language")
    subject_type: str
    subject_id: str
    at: datetime


class OperationsOut(PageOut):
    operations: list[OperationOut]


@bp.get("/me/operations")
@login_required
@endpoint("My operation log: what I generated, downloaded and shared, and when (§2.1)", response=OperationsOut,
          query=PageQuery, auth=True, tags=("privacy",), errors=[InvalidCursor])
def operations(query: PageQuery):
    found, next_cursor = operations_of(current_user.id, query)
    return OperationsOut(operations=[OperationOut(action=o.action, action_label=labels.operation_label(o.action),
                                                  subject_type=o.subject_type,
                                                  subject_id=o.subject_id, at=o.created_at) for o in found],
                         next_cursor=next_cursor)


# --- what we hold, deletion requests, cancellation ----------------------------------------------------

class CategoryOut(BaseModel):
    name: str
    label: str = Field(description="The category in the request's language")
    count: int
    retention: str = Field(description="How long it is kept, in the request's language")


class HoldingsOut(BaseModel):
    profile: dict
    categories: list[CategoryOut]
    how_to_correct: str


class DeletionRequestIn(BaseModel):
    categories: list[Literal["results", "avatar", "uploads", "operation_logs", "devices"]] = Field(min_length=1)


class DeletionRequestOut(BaseModel):
    id: str
    categories: list[str]
    category_labels: list[str] = Field(description="The categories in the request's language")
    status: str
    status_text: str = Field(description="The status in the request's language")
    created_at: datetime
    due_at: datetime = Field(description="15 working days after the request (§8): the end of due_date in Beijing")
    due_date: date = Field(description="The date to show: the 15th working day on China's calendar (Beijing date)")
    completed_at: datetime | None


class DeletionRequestsOut(PageOut):
    requests: list[DeletionRequestOut]


class SentOut(BaseModel):
    expires_in: int


class CancelIn(BaseModel):
    code: str = Field(pattern=r"^\d{6}$", description="The code sent to the bound phone", examples=["123456"])


def request_out(request) -> DeletionRequestOut:
    categories = request.categories.split(",")
    return DeletionRequestOut(id=request.public_id, categories=categories,
                              category_labels=[labels.category_label(c) for c in categories], status=request.status,
                              status_text=labels.request_status_label(request.status),
                              created_at=request.created_at, due_at=request.due_at,
                              due_date=chinatime.beijing_date(request.due_at),
                              completed_at=request.completed_at)


@bp.get("/me/data")
@login_required
@endpoint("Everything we hold about me, with counts and retention (§8(1))", response=HoldingsOut, auth=True,
          tags=("privacy",))
def my_data():
    user = current_user
    return HoldingsOut(
        profile={"id": user.public_id, "nickname": user.nickname, "avatar_url": user.avatar_url,
                 "phone_masked": user.phone_masked, "created_at": user.created_at.isoformat()},
        categories=[CategoryOut(name=c.name, label=labels.category_label(c.name), count=c.count,
                                retention=str(c.retention)) for c in rights.holdings(user)],
        how_to_correct=_("Change your nickname and avatar in your profile (PATCH /api/v1/me); bind a new phone "
                         "number with /api/v1/me/phone/wechat."),
    )


@bp.post("/me/deletion-requests")
@login_required
@endpoint("Delete categories of my data now (§8(2))", body=DeletionRequestIn, response=DeletionRequestOut,
          status=201, auth=True, tags=("privacy",), errors=[422, (429, "rate_limited"), (503, "calendar_out_of_range")],
          idempotent=True)
@transactional
def create_deletion_request(body: DeletionRequestIn):
    return request_out(rights.request_deletion(current_user, list(body.categories)))


@bp.get("/me/deletion-requests")
@login_required
@endpoint("My deletion requests and their status, newest first (paged)", query=PageQuery,
          response=DeletionRequestsOut, auth=True, tags=("privacy",), errors=[InvalidCursor])
def list_deletion_requests(query: PageQuery):
    requests, next_cursor = rights.list_requests(current_user, query)
    return DeletionRequestsOut(requests=[request_out(r) for r in requests], next_cursor=next_cursor)


@bp.post("/me/cancellation/code")
@login_required
@endpoint("Send the account-cancellation code to my phone", response=SentOut, status=202, auth=True,
          tags=("privacy",), errors=[(403, "phone_binding_required"), 429, (503, "sms_unavailable")])
def cancellation_code():
    return SentOut(expires_in=rights.send_cancellation_code(current_user))


@bp.post("/me/cancellation")
@login_required
@endpoint("Cancel my account (§8(4)): immediate and final", body=CancelIn, status=204, auth=True,
          tags=("privacy",),
          errors=[(400, "sms_code_invalid"), (400, "sms_code_expired"), (403, "phone_binding_required"), 429],
          description="Revokes every session, cancels jobs, deletes uploads, results, devices, consents and logs, "
                      "deletes the account; orders are kept pseudonymised as the law requires.")
def cancel_account(body: CancelIn):
    rights.confirm_and_cancel(current_user, body.code)
