"""Staff sessions: CSRF, logout, idle timeout, absolute max age, the per-account session limit."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from app.core.db import utcnow
from app.staff.models import AuditEntry, StaffAccount, StaffSession
from tests.staff.helpers import StaffClient, create_staff, json_of


def error_code(response) -> str:
    return json_of(response)["error"]["code"]


def test_anonymous_calls_are_refused_with_401(app):
    staff = StaffClient(app)
    for method, path in (("GET", "/admin/api/session"), ("GET", "/admin/api/staff"), ("DELETE", "/admin/api/session")):
        response = staff.request(method, path)
        assert response.status_code == 401 and error_code(response) == "staff_authentication_required"
        assert response.headers["Cache-Control"] == "no-store"


def test_a_forged_cookie_is_refused(app):
    staff = StaffClient(app)
    staff.client.set_cookie("mh_staff", "mhs_forged", domain="localhost", path="/admin")
    response = staff.get("/admin/api/session")
    assert response.status_code == 401 and error_code(response) == "staff_authentication_required"


def test_unsafe_requests_need_the_csrf_token(app):
    create_staff(app, "ada", ["admin"])
    staff = StaffClient.login(app, "ada")
    body = {"username": "newbie", "roles": ["support"], "password": "a long enough passphrase"}
    missing = staff.post("/admin/api/staff", json=body, csrf=False)
    assert missing.status_code == 403 and error_code(missing) == "csrf_failed"
    wrong = staff.post("/admin/api/staff", json=body, csrf=False, headers={"X-CSRF-Token": "0" * 64})
    assert wrong.status_code == 403 and error_code(wrong) == "csrf_failed"
    # Another session's token does not fit this session.
    other = StaffClient.login(app, "ada")
    crossed = staff.post("/admin/api/staff", json=body, csrf=False, headers={"X-CSRF-Token": other.csrf})
    assert crossed.status_code == 403 and error_code(crossed) == "csrf_failed"
    logout_without = staff.delete("/admin/api/session", csrf=False)
    assert logout_without.status_code == 403 and error_code(logout_without) == "csrf_failed"
    # GET needs none; with the token the unsafe request goes through.
    assert staff.get("/admin/api/staff").status_code == 200
    assert staff.post("/admin/api/staff", json=body).status_code == 201


def test_logout_revokes_the_session_and_clears_the_cookie(app, dbx):
    create_staff(app, "sam", ["support"])
    staff = StaffClient.login(app, "sam")
    token = staff.client.get_cookie("mh_staff", domain="localhost", path="/admin").value
    response = staff.logout()
    assert response.status_code == 204
    assert "mh_staff=;" in response.headers["Set-Cookie"] and "Expires=Thu, 01 Jan 1970" in response.headers[
        "Set-Cookie"]
    session = dbx.one(select(StaffSession))
    assert session.revoked_at is not None and session.revoked_reason == "logout"
    # Replaying the old cookie does not work either.
    replay = StaffClient(app)
    replay.client.set_cookie("mh_staff", token, domain="localhost", path="/admin")
    assert replay.get("/admin/api/session").status_code == 401
    assert dbx.count(AuditEntry, AuditEntry.action == "staff.logout") == 1


def test_idle_timeout_ends_the_session(app, dbx):
    create_staff(app, "sam", ["support"])
    staff = StaffClient.login(app, "sam")
    idle = app.config["STAFF_SESSION_IDLE_TIMEOUT_S"]
    dbx.execute(update(StaffSession).values(last_seen_at=utcnow() - timedelta(seconds=idle - 30)))
    assert staff.get("/admin/api/session").status_code == 200  # still inside: and the clock restarts
    assert dbx.one(select(StaffSession)).last_seen_at > utcnow() - timedelta(seconds=5)
    dbx.execute(update(StaffSession).values(last_seen_at=utcnow() - timedelta(seconds=idle + 1)))
    response = staff.get("/admin/api/session")
    assert response.status_code == 401 and error_code(response) == "staff_authentication_required"
    assert json_of(response)["error"]["details"]["reason"] == "idle_timeout"
    session = dbx.one(select(StaffSession))
    assert session.revoked_reason == "idle_timeout"
    dbx.execute(update(StaffSession).values(last_seen_at=utcnow()))  # revoked stays revoked
    assert staff.get("/admin/api/session").status_code == 401


def test_absolute_max_age_ends_an_active_session(app, dbx):
    create_staff(app, "sam", ["support"])
    staff = StaffClient.login(app, "sam")
    session = dbx.one(select(StaffSession))
    max_age = app.config["STAFF_SESSION_MAX_AGE_S"]
    assert abs((session.expires_at - session.created_at).total_seconds() - max_age) < 2
    dbx.execute(update(StaffSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    response = staff.get("/admin/api/session")  # active a moment ago, but too old
    assert response.status_code == 401 and json_of(response)["error"]["details"]["reason"] == "expired"


def test_the_newest_sessions_win_past_the_limit(app, dbx, monkeypatch):
    monkeypatch.setitem(app.config, "STAFF_MAX_SESSIONS", 2)
    create_staff(app, "sam", ["support"])
    first = StaffClient.login(app, "sam")
    second = StaffClient.login(app, "sam")
    assert first.get("/admin/api/session").status_code == 200
    third = StaffClient.login(app, "sam")
    assert first.get("/admin/api/session").status_code == 401
    assert second.get("/admin/api/session").status_code == 200
    assert third.get("/admin/api/session").status_code == 200
    reasons = dbx.run(lambda s: list(s.scalars(select(StaffSession.revoked_reason).order_by(StaffSession.id))))
    assert reasons == ["session_limit", None, None]


def test_disabling_ends_live_sessions_even_if_revocation_was_missed(app, dbx):
    create_staff(app, "sam", ["support"])
    staff = StaffClient.login(app, "sam")
    dbx.execute(update(StaffAccount).values(disabled_at=utcnow()))  # e.g. changed directly in the database
    response = staff.get("/admin/api/session")
    assert response.status_code == 401 and json_of(response)["error"]["details"]["reason"] == "disabled"


def test_whoami_reports_roles_permissions_and_expiry(app):
    create_staff(app, "pat", ["privacy_officer", "auditor"])
    staff = StaffClient.login(app, "pat")
    data = json_of(staff.get("/admin/api/session"))["data"]
    assert data["staff"]["roles"] == ["auditor", "privacy_officer"]
    assert set(data["staff"]["permissions"]) == {"access.review", "audit.read", "dashboard.read", "rights.read",
                                                 "rights.process", "users.read", "users.unmask", "notices.send"}
    assert data["idle_timeout_s"] == app.config["STAFF_SESSION_IDLE_TIMEOUT_S"]
    assert data["csrf_token"] == staff.csrf


def test_logging_in_again_in_the_same_browser_ends_its_previous_session(app, dbx):
    create_staff(app, "sam", ["support"])
    staff = StaffClient.login(app, "sam")
    old_csrf = staff.csrf
    assert staff.try_login("sam").status_code == 200
    assert staff.csrf != old_csrf
    reasons = dbx.run(lambda s: list(s.scalars(select(StaffSession.revoked_reason).order_by(StaffSession.id))))
    assert reasons == ["replaced", None]
    assert staff.get("/admin/api/session").status_code == 200
