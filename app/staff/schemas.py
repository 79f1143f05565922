"""Request and response bodies of the staff API (also the source of the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.core.i18n import N_
from app.core.pagination import PageOut, PageQuery
from app.staff.models import AuditEntry, StaffAccount
from app.staff.permissions import permissions_for


class StrictModel(BaseModel):
    # No whitespace stripping here: a password's spaces are part of it.
    model_config = ConfigDict(extra="forbid")


class LoginIn(StrictModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    totp: str | None = Field(default=None, max_length=16, description="Authenticator code, when enrolled")


class StaffOut(BaseModel):
    username: str
    roles: list[str]
    permissions: list[str]
    totp_enabled: bool
    disabled: bool
    locked_until: datetime | None
    created_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, staff: StaffAccount) -> StaffOut:
        return cls(username=staff.username, roles=staff.role_list,
                   permissions=sorted(permissions_for(staff.role_list)), totp_enabled=staff.totp_enabled,
                   disabled=staff.is_disabled, locked_until=staff.locked_until, created_at=staff.created_at,
                   last_login_at=staff.last_login_at)


class SessionOut(BaseModel):
    staff: StaffOut
    csrf_token: str = Field(description="Send it back as the X-CSRF-Token header on every unsafe request")
    expires_at: datetime
    idle_timeout_s: int


class TotpBeginOut(BaseModel):
    secret: str = Field(description="Shown once: add it to an authenticator app, then confirm with a code")
    otpauth_uri: str


class TotpCodeIn(StrictModel):
    code: str = Field(min_length=6, max_length=10)


class ReasonIn(StrictModel):
    reason: str = Field(min_length=3, max_length=500)


class StaffCreateIn(StrictModel):
    username: str = Field(min_length=3, max_length=32)
    roles: list[str] = Field(min_length=1, max_length=10)
    password: str = Field(min_length=1, max_length=256, description="Initial password, at least 12 characters")


class StaffUpdateIn(StrictModel):
    roles: list[str] | None = Field(default=None, min_length=1, max_length=10)
    disabled: bool | None = None
    reason: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _something_to_change(self) -> StaffUpdateIn:
        if self.roles is None and self.disabled is None:
            raise ValueError(N_("Give roles and/or disabled."))
        return self


class StaffListOut(PageOut):
    staff: list[StaffOut]


class AuditQuery(StrictModel, PageQuery):
    staff: str | None = Field(default=None, max_length=64, description="Staff username (exact)")
    action: str | None = Field(default=None, max_length=64, description="Exact action, or a prefix ending in '.'")
    target_type: str | None = Field(default=None, max_length=32)
    target_id: str | None = Field(default=None, max_length=128)
    since: datetime | None = None
    until: datetime | None = None


class AuditEntryOut(BaseModel):
    id: int
    created_at: datetime
    staff_username: str
    roles: list[str]
    action: str
    target_type: str
    target_id: str | None
    reason: str | None
    request_id: str | None
    ip: str | None
    details: dict | None
    hash: str

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryOut:
        return cls(id=entry.id, created_at=entry.created_at, staff_username=entry.staff_username,
                   roles=[r for r in entry.roles.split(",") if r], action=entry.action,
                   target_type=entry.target_type, target_id=entry.target_id, reason=entry.reason,
                   request_id=entry.request_id, ip=entry.ip, details=entry.details, hash=entry.hash)


class AuditPageOut(PageOut):
    entries: list[AuditEntryOut]


class ChainStatusOut(BaseModel):
    ok: bool
    checked: int
    first_broken_id: int | None
    problem: str | None
    last_id: int | None


class ReviewedAccountOut(BaseModel):
    username: str
    roles: list[str]
    disabled: bool
    totp_enabled: bool
    created_at: datetime
    last_login_at: datetime | None
    last_used_at: datetime | None = Field(description="Last login or last request of any of its sessions")


class AccessReviewOut(BaseModel):
    id: int
    reviewer: str
    reviewed_at: datetime
    changes: str
    accounts_reviewed: int

    @classmethod
    def of(cls, review) -> AccessReviewOut:
        return cls(id=review.id, reviewer=review.reviewer_username, reviewed_at=review.reviewed_at,
                   changes=review.changes, accounts_reviewed=len(review.accounts or []))


class AccessReviewStatusOut(BaseModel):
    staff: list[ReviewedAccountOut]
    last_review: AccessReviewOut | None
    period_days: int = Field(description="STAFF_ACCESS_REVIEW_PERIOD_DAYS")
    due_at: datetime | None = Field(description="When the next review is due (None: none recorded yet, due now)")
    overdue: bool
    reviews: list[AccessReviewOut] = Field(description="The latest reviews, newest first")


class AccessReviewIn(StrictModel):
    changes: str = Field(min_length=2, max_length=2000, pattern=r"\S\S",
                         description="What the review changed (roles removed, accounts disabled…), or 'no changes'")
