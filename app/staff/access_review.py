"""Periodic access review (policy §7): every staff account with its roles and last use, reviewed and recorded.

An auditor (``access.review``) looks at the list, makes the changes through an admin, and records the
review: who, when, what changed, and the list as it was seen. Recording is audit-logged. The
``miaohua_staff_access_review_age_seconds`` gauge (``app/monitoring``) reads :func:`last_review_at`,
and an alert fires when it is older than ``STAFF_ACCESS_REVIEW_PERIOD_DAYS``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from app.extensions import db
from app.staff import audit
from app.staff.models import AccessReview, StaffAccount, StaffSession


def _latest(*moments: datetime | None) -> datetime | None:
    present = [moment for moment in moments if moment is not None]
    return max(present) if present else None


def accounts_for_review() -> list[dict[str, Any]]:
    """Every staff account (disabled ones too), with its roles and when it was last used."""
    last_seen = dict(db.session.execute(
        select(StaffSession.staff_id, func.max(StaffSession.last_seen_at)).group_by(StaffSession.staff_id)).all())
    accounts = db.session.scalars(select(StaffAccount).order_by(StaffAccount.username))
    return [{"username": staff.username, "roles": staff.role_list, "disabled": staff.is_disabled,
             "totp_enabled": staff.totp_enabled, "created_at": staff.created_at,
             "last_login_at": staff.last_login_at,
             "last_used_at": _latest(staff.last_login_at, last_seen.get(staff.id))} for staff in accounts]


def period() -> timedelta:
    return timedelta(days=current_app.config["STAFF_ACCESS_REVIEW_PERIOD_DAYS"])


def last_review() -> AccessReview | None:
    return db.session.scalar(select(AccessReview).order_by(AccessReview.reviewed_at.desc(), AccessReview.id.desc())
                             .limit(1))


def last_review_at() -> datetime | None:
    return db.session.scalar(select(func.max(AccessReview.reviewed_at)))


def first_account_created_at() -> datetime | None:
    return db.session.scalar(select(func.min(StaffAccount.created_at)))


def recent_reviews(limit: int = 20) -> list[AccessReview]:
    return list(db.session.scalars(select(AccessReview).order_by(AccessReview.reviewed_at.desc(),
                                                                 AccessReview.id.desc()).limit(limit)))


def record_review(reviewer: StaffAccount, changes: str) -> AccessReview:
    """Record a review of the accounts as they are now (the caller commits, with its audit entry)."""
    snapshot = [{**account, **{key: account[key].isoformat() if account[key] else None
                               for key in ("created_at", "last_login_at", "last_used_at")}}
                for account in accounts_for_review()]
    review = AccessReview(reviewer_id=reviewer.id, reviewer_username=reviewer.username, changes=changes.strip(),
                          accounts=snapshot)
    db.session.add(review)
    db.session.flush()
    audit.record("staff.access_review", "access_review", str(review.id),
                 details={"accounts": len(snapshot), "changes": review.changes[:500]})
    return review
