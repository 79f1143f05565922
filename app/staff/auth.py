"""Staff authentication for the staff JSON API under ``/admin/api``.

Every staff view is declared ``route → staff_required(permission) → endpoint``::

    @bp.get("/orders/<out_trade_no>")
    @staff_required(Permission.ORDERS_READ)
    @endpoint("One order", response=OrderOut, tags=("staff",))
    def order_detail(out_trade_no: str): ...

``staff_required`` answers 401 ``staff_authentication_required`` without a live session (none,
revoked, idle-timed-out, past its maximum age, account disabled), 403 ``csrf_failed`` when an unsafe
request lacks the session's CSRF token, and 403 ``permission_denied`` (audit-logged) when no role
of the staff grants the permission. It then runs the view and commits, so the audit entries of
read-only views are stored; on any exception it rolls back. The permission is kept on the view as
``staff_permission`` so a test can enumerate every staff route and check it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, g, request

from app.core.db import utcnow
from app.core.errors import AuthenticationRequired, Forbidden
from app.extensions import db
from app.staff import sessions
from app.staff.models import StaffAccount, StaffSession
from app.staff.permissions import Permission, permissions_for

STAFF_API_PREFIX = "/admin/api"
STAFF_COOKIE_PATH = "/admin"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class StaffAuthenticationRequired(AuthenticationRequired):
    code, message = "staff_authentication_required", "Log in to the staff console to continue."


class CsrfFailed(Forbidden):
    # A literal (not built from CSRF_HEADER) so the catalog can translate it.
    code, message = "csrf_failed", "Missing or wrong X-CSRF-Token header; reload the console and try again."


class PermissionDenied(Forbidden):
    code, message = "permission_denied", "None of your roles allows this."


def set_session_cookie(response: Response, token: str) -> None:
    config = current_app.config
    response.set_cookie(config["STAFF_COOKIE_NAME"], token, max_age=config["STAFF_SESSION_MAX_AGE_S"],
                        path=STAFF_COOKIE_PATH, secure=bool(config["STAFF_COOKIE_SECURE"]), httponly=True,
                        samesite="Strict")


def clear_session_cookie(response: Response) -> None:
    config = current_app.config
    response.delete_cookie(config["STAFF_COOKIE_NAME"], path=STAFF_COOKIE_PATH,
                           secure=bool(config["STAFF_COOKIE_SECURE"]), httponly=True, samesite="Strict")


def session_token() -> str | None:
    return request.cookies.get(current_app.config["STAFF_COOKIE_NAME"]) or None


def authenticate() -> tuple[StaffAccount, StaffSession, str]:
    """The staff behind this request's cookie, with its session; stale sessions are revoked (and committed)."""
    token = session_token()
    session = sessions.find(token) if token else None
    if session is None or session.revoked_at is not None:
        raise StaffAuthenticationRequired()
    now = utcnow()
    reason = sessions.stale_reason(session, now)
    if reason is None and session.staff.is_disabled:
        reason = sessions.RevokeReason.DISABLED
    if reason is not None:
        sessions.revoke(session, reason, now)
        db.session.commit()
        raise StaffAuthenticationRequired(details={"reason": str(reason)})
    session.last_seen_at = now
    return session.staff, session, token  # type: ignore[return-value]


def check_csrf(token: str) -> None:
    if request.method in UNSAFE_METHODS and not sessions.csrf_matches(token, request.headers.get(CSRF_HEADER)):
        raise CsrfFailed()


def staff_required(permission: Permission | None) -> Callable:
    """Require a live staff session (and, unless ``None``, a role granting ``permission``).

    ``None`` is only for the staff's own session endpoints (who am I, log out, enrol TOTP).
    """

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                staff, session, token = authenticate()
                check_csrf(token)
                g.staff, g.staff_session, g.staff_token = staff, session, token
                if permission is not None and permission not in permissions_for(staff.role_list):
                    _record_denial(permission)
                    raise PermissionDenied(details={"permission": str(permission)})
                result = view(*args, **kwargs)
                db.session.commit()
                return result
            except BaseException:
                db.session.rollback()
                raise

        wrapper.staff_permission = permission  # type: ignore[attr-defined]
        return wrapper

    return decorate


def _record_denial(permission: Permission) -> None:
    """Refusals are stored (their own commit: the request then fails): probing shows in the log."""
    from app.staff import audit

    audit.record("staff.permission_denied", "endpoint", request.endpoint,
                 details={"permission": str(permission), "method": request.method, "path": request.path[:200]})
    db.session.commit()


def current_staff() -> StaffAccount:
    """The logged-in staff account of this request (only inside a ``staff_required`` view)."""
    staff = g.get("staff")
    if staff is None:
        raise StaffAuthenticationRequired()
    return staff


def current_session() -> StaffSession:
    session = g.get("staff_session")
    if session is None:
        raise StaffAuthenticationRequired()
    return session
