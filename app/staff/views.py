"""The staff's own session: log in, who am I, log out, and enrolment of a TOTP second factor.

Every ``/admin/api`` answer carries ``Cache-Control: no-store`` (personal data must not sit in a
browser or proxy cache), whichever blueprint produced it.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Response, current_app, g, request

from app.core.api import endpoint, envelope
from app.staff import services, sessions
from app.staff.auth import (
    STAFF_API_PREFIX,
    clear_session_cookie,
    current_session,
    current_staff,
    session_token,
    set_session_cookie,
    staff_required,
)
from app.staff.models import StaffAccount, StaffSession
from app.staff.schemas import LoginIn, SessionOut, StaffOut, TotpBeginOut, TotpCodeIn

bp = Blueprint("staff_session", __name__, url_prefix=STAFF_API_PREFIX)
TAGS = ("staff",)


@bp.after_app_request
def never_cache_staff_answers(response: Response) -> Response:
    if request.path.startswith(STAFF_API_PREFIX):
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
    return response


def session_out(staff: StaffAccount, session: StaffSession, token: str) -> SessionOut:
    idle = int(current_app.config["STAFF_SESSION_IDLE_TIMEOUT_S"])
    return SessionOut(staff=StaffOut.of(staff), csrf_token=sessions.csrf_token_for(token),
                      expires_at=min(session.expires_at, session.last_seen_at + timedelta(seconds=idle)),
                      idle_timeout_s=idle)


@bp.post("/session")
@endpoint("Staff login", body=LoginIn, response=SessionOut, tags=TAGS, errors=[401, 403, services.StaffLocked],
          description="Sets the HttpOnly staff cookie. Errors: invalid_credentials, totp_required, invalid_totp, "
                      "staff_locked (423), staff_disabled.")
def login(body: LoginIn) -> Response:
    result = services.login(body.username, body.password, body.totp, request.remote_addr,
                            previous_token=session_token())
    session = sessions.find(result.token)
    response = envelope(session_out(result.staff, session, result.token))
    set_session_cookie(response, result.token)
    return response


@bp.get("/session")
@staff_required(None)
@endpoint("The logged-in staff and the CSRF token", response=SessionOut, tags=TAGS, errors=[401])
def whoami() -> SessionOut:
    return session_out(current_staff(), current_session(), g.staff_token)


@bp.delete("/session")
@staff_required(None)
@endpoint("Log out", status=204, tags=TAGS, errors=[401, 403])
def logout() -> Response:
    services.logout(current_session())  # staff_required commits
    response = Response(status=204)
    clear_session_cookie(response)
    return response


@bp.post("/session/totp")
@staff_required(None)
@endpoint("Begin TOTP enrolment", response=TotpBeginOut, tags=TAGS, errors=[401, 403, 409],
          description="Returns the secret and otpauth URI once; confirm with a code to turn the factor on.")
def totp_begin() -> TotpBeginOut:
    enrolment = services.begin_totp(current_staff())
    return TotpBeginOut(secret=enrolment.secret, otpauth_uri=enrolment.otpauth_uri)


@bp.post("/session/totp/confirm")
@staff_required(None)
@endpoint("Confirm TOTP enrolment with a code", body=TotpCodeIn, status=204, tags=TAGS, errors=[401, 403, 409])
def totp_confirm(body: TotpCodeIn) -> None:
    services.confirm_totp(current_staff(), body.code)
