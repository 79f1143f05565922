"""Staff API for admins (staff accounts) and auditors (the audit log). Thin: see ``manage`` and ``audit``."""

from __future__ import annotations

from flask import Blueprint

from app.core.api import endpoint
from app.core.db import utcnow
from app.core.pagination import InvalidCursor, PageQuery
from app.staff import access_review, audit, manage
from app.staff.auth import STAFF_API_PREFIX, current_staff, staff_required
from app.staff.permissions import Permission
from app.staff.schemas import (
    AccessReviewIn,
    AccessReviewOut,
    AccessReviewStatusOut,
    AuditEntryOut,
    AuditPageOut,
    AuditQuery,
    ChainStatusOut,
    ReasonIn,
    ReviewedAccountOut,
    StaffCreateIn,
    StaffListOut,
    StaffOut,
    StaffUpdateIn,
)

bp = Blueprint("staff_manage", __name__, url_prefix=STAFF_API_PREFIX)
TAGS = ("staff",)


@bp.get("/staff")
@staff_required(Permission.STAFF_MANAGE)
@endpoint("Staff accounts by username (paged)", query=PageQuery, response=StaffListOut, tags=TAGS,
          errors=[401, 403, InvalidCursor])
def list_staff(query: PageQuery) -> StaffListOut:
    accounts, next_cursor = manage.list_staff(query)
    audit.record("staff.list", "staff", None, details={"count": len(accounts)})
    return StaffListOut(staff=[StaffOut.of(staff) for staff in accounts], next_cursor=next_cursor)


@bp.post("/staff")
@staff_required(Permission.STAFF_MANAGE)
@endpoint("Create a staff account", body=StaffCreateIn, response=StaffOut, status=201, tags=TAGS,
          errors=[401, 403, 409, 422],
          description="Errors: staff_username_taken, invalid_username, invalid_roles, weak_password.")
def create_staff(body: StaffCreateIn) -> StaffOut:
    return StaffOut.of(manage.create_staff(body.username, body.roles, body.password))


@bp.patch("/staff/<username>")
@staff_required(Permission.STAFF_MANAGE)
@endpoint("Change a staff account's roles or disable it", body=StaffUpdateIn, response=StaffOut, tags=TAGS,
          errors=[401, 403, 404, 409, 422],
          description="Role changes and disabling revoke the account's sessions. Errors: staff_not_found, "
                      "cannot_disable_self, cannot_remove_own_admin, invalid_roles.")
def update_staff(username: str, body: StaffUpdateIn) -> StaffOut:
    staff = manage.update_staff(current_staff(), manage.get_staff(username), roles=body.roles,
                                disabled=body.disabled, reason=body.reason)
    return StaffOut.of(staff)


@bp.post("/staff/<username>/totp/reset")
@staff_required(Permission.STAFF_MANAGE)
@endpoint("Remove a staff account's second factor (lost phone)", body=ReasonIn, response=StaffOut, tags=TAGS,
          errors=[401, 403, 404, 422])
def reset_totp(username: str, body: ReasonIn) -> StaffOut:
    staff = manage.get_staff(username)
    manage.reset_totp(staff, body.reason)
    return StaffOut.of(staff)


@bp.post("/staff/<username>/unlock")
@staff_required(Permission.STAFF_MANAGE)
@endpoint("Lift a lock-out after failed logins", body=ReasonIn, response=StaffOut, tags=TAGS,
          errors=[401, 403, 404, 422])
def unlock_staff(username: str, body: ReasonIn) -> StaffOut:
    staff = manage.get_staff(username)
    manage.unlock(staff, body.reason)
    return StaffOut.of(staff)


@bp.get("/audit")
@staff_required(Permission.AUDIT_READ)
@endpoint("Search the audit log (newest first)", query=AuditQuery, response=AuditPageOut, tags=TAGS,
          errors=[401, 403, 422],
          description="Paged: pass next_cursor as cursor. The search itself is logged.")
def search_audit(query: AuditQuery) -> AuditPageOut:
    filters = query.model_dump(exclude_none=True, mode="json")
    entries, next_cursor = audit.search(**query.model_dump(exclude={"limit", "cursor"}), page=query)
    page = AuditPageOut(entries=[AuditEntryOut.of(entry) for entry in entries], next_cursor=next_cursor)
    audit.record("audit.search", "audit_log", None, details={"filters": filters, "returned": len(entries)})
    return page


@bp.get("/audit/verify")
@staff_required(Permission.AUDIT_READ)
@endpoint("Verify the audit log's hash chain", response=ChainStatusOut, tags=TAGS, errors=[401, 403])
def verify_audit() -> ChainStatusOut:
    status = audit.verify_chain()
    audit.record("audit.verify", "audit_log", None,
                 details={"ok": status.ok, "checked": status.checked, "first_broken_id": status.first_broken_id})
    return ChainStatusOut(ok=status.ok, checked=status.checked, first_broken_id=status.first_broken_id,
                          problem=status.problem, last_id=status.last_id)


@bp.get("/access-review")
@staff_required(Permission.ACCESS_REVIEW)
@endpoint("Periodic access review: every staff account with its roles and last use, and past reviews",
          response=AccessReviewStatusOut, tags=TAGS, errors=[401, 403])
def get_access_review() -> AccessReviewStatusOut:
    accounts = access_review.accounts_for_review()
    last = access_review.last_review()
    due_at = last.reviewed_at + access_review.period() if last else None
    audit.record("staff.access_review_view", "access_review", None, details={"accounts": len(accounts)})
    return AccessReviewStatusOut(
        staff=[ReviewedAccountOut(**account) for account in accounts],
        last_review=AccessReviewOut.of(last) if last else None,
        period_days=access_review.period().days, due_at=due_at, overdue=due_at is None or due_at <= utcnow(),
        reviews=[AccessReviewOut.of(review) for review in access_review.recent_reviews()])


@bp.post("/access-review")
@staff_required(Permission.ACCESS_REVIEW)
@endpoint("Record an access review of the staff accounts as they are now (who, when, what changed)",
          body=AccessReviewIn, response=AccessReviewOut, status=201, tags=TAGS, errors=[401, 403, 422])
def record_access_review(body: AccessReviewIn) -> AccessReviewOut:
    return AccessReviewOut.of(access_review.record_review(current_staff(), body.changes))
