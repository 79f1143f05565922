"""Shapes of the staff API's requests and answers (pydantic v2; the OpenAPI document is generated from them).

Every answer that names a person carries masked values only (``138****1234``, ``张**``); the one
exception, ``UnmaskedOut``, is the answer to an audited unmask request for one field.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.core.pagination import PageOut, PageQuery
from app.orders.queries import OrderStatus

REASON = Field(min_length=5, max_length=200, description="Why (stored in the audit log)")


# --- users ----------------------------------------------------------------------------------------

class UserSearchQuery(BaseModel):
    q: str = Field(min_length=1, max_length=64, description="A user id, a mainland mobile number or an order number")


class UserCounts(BaseModel):
    uploads: int
    jobs: int
    results: int
    orders: int
    active_sessions: int


class MaskedUserOut(BaseModel):
    id: str
    phone: str | None = Field(description="Masked: 138****1234")
    nickname: str | None = Field(description="Masked: the first character, then stars")
    has_wechat: bool
    status: str
    blocked: bool
    blocked_reason: str | None
    created_at: datetime
    last_login_at: datetime | None
    counts: UserCounts


class UserSearchOut(BaseModel):
    searched_as: list[str] = Field(description="How the query was read: user_id, phone, order_number")
    users: list[MaskedUserOut]


class OrderLineOut(BaseModel):
    order_no: str
    product: str
    amount_fen: int
    status: str
    created_at: datetime


class UserDetailOut(BaseModel):
    user: MaskedUserOut
    recent_orders: list[OrderLineOut]


class UnmaskIn(BaseModel):
    field: Literal["phone", "nickname"]
    reason: str = REASON


class UnmaskedOut(BaseModel):
    field: str
    value: str


class ReasonIn(BaseModel):
    reason: str = REASON


# --- orders ---------------------------------------------------------------------------------------

class OrderListQuery(PageQuery):
    status: OrderStatus | None = None
    since: datetime | None = Field(default=None, description="Created at or after (ISO 8601 with a time zone)")


class BuyerOut(BaseModel):
    id: str
    phone: str | None = Field(description="Masked")
    nickname: str | None = Field(description="Masked")
    status: str


class OrderSummaryOut(BaseModel):
    order_no: str
    product: str
    amount_fen: int
    refunded_fen: int
    status: str
    created_at: datetime
    paid_at: datetime | None
    buyer_id: str | None = Field(description="The buyer's user id; null once the account was cancelled")


class OrderListOut(PageOut):
    orders: list[OrderSummaryOut]


class OrderEventOut(BaseModel):
    from_status: str | None
    to_status: str
    cause: str
    at: datetime


class RefundOut(BaseModel):
    refund_no: str
    amount_fen: int
    reason: str
    status: str = Field(description="requested → processing → success | closed | abnormal")
    created_at: datetime
    finished_at: datetime | None


class OrderDetailOut(BaseModel):
    order_no: str
    product: str
    item: str
    subject: str | None
    amount_fen: int
    currency: str
    status: str
    payment_method: str
    transaction_id: str | None
    created_at: datetime
    paid_at: datetime | None
    fulfilled_at: datetime | None
    closed_at: datetime | None
    refunded_fen: int
    refundable_fen: int
    refund_window_ends_at: datetime | None
    buyer: BuyerOut | None = Field(description="Masked; null once the account was cancelled (kept pseudonymised)")
    events: list[OrderEventOut]
    refunds: list[RefundOut]


class StaffRefundIn(BaseModel):
    amount_fen: int | None = Field(default=None, ge=1, description="Omit to refund everything left")
    reason: str = Field(min_length=5, max_length=48, description="Sent to WeChat Pay and kept in the audit log")
    ticket_id: str | None = Field(default=None, max_length=32, description="The support ticket this answers")


# --- rights requests ------------------------------------------------------------------------------

class RightsRequestIn(BaseModel):
    user_public_id: str = Field(min_length=1, max_length=32)
    kind: Literal["deletion", "cancellation"]
    categories: list[Literal["results", "avatar", "uploads", "operation_logs", "devices"]] = Field(
        default_factory=list, description="For a deletion: which categories")
    channel: Literal["email", "phone", "ticket"]
    ticket_id: str | None = Field(default=None, max_length=32)
    note: str | None = Field(default=None, max_length=1000, description="How identity was verified, what was asked")


class RightsQueueQuery(PageQuery):
    status: Literal["pending", "completed", "rejected"] | None = "pending"
    overdue: bool = False


class RightsRequestOut(BaseModel):
    id: str
    user_id: str | None = Field(description="Null once the account is gone")
    kind: str
    categories: list[str]
    channel: str
    ticket_id: str | None
    note: str | None
    status: str
    rejected_reason: str | None
    created_at: datetime
    due_at: datetime
    due_date: date = Field(description="The due date on China's calendar (Beijing date; due until its end)")
    completed_at: datetime | None
    overdue: bool
    days_left: int | None = Field(description="Working days until due_at (negative: overdue); null once answered")


class RightsQueueOut(PageOut):
    requests: list[RightsRequestOut]


# --- dashboard ------------------------------------------------------------------------------------

class DashboardOut(BaseModel):
    monitoring: dict
    tickets: dict[str, int] = Field(description="open (waiting for staff), waiting_user")
    rights_requests: dict[str, int]
