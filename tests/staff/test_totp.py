"""The TOTP second factor: enrolment, login with it, wrong codes, replay, and an admin's reset."""

from __future__ import annotations

import pyotp
from sqlalchemy import select

from app.core.db import utcnow
from app.staff.models import AuditEntry, StaffAccount, StaffSession
from tests.staff.helpers import StaffClient, create_staff, json_of


def error_code(response) -> str:
    return json_of(response)["error"]["code"]


def code_at(secret: str, steps_ahead: int = 0) -> str:
    """The code for the current time step (+ n): each login needs a step not used before."""
    totp = pyotp.TOTP(secret)
    return totp.generate_otp(totp.timecode(utcnow()) + steps_ahead)


def test_enrolment_then_login_requires_the_code(app, dbx):
    create_staff(app, "sam", ["support"])
    staff = StaffClient.login(app, "sam")
    begin = staff.post("/admin/api/session/totp")
    assert begin.status_code == 200, json_of(begin)
    data = json_of(begin)["data"]
    secret = data["secret"]
    assert data["otpauth_uri"].startswith("otpauth://totp/") and f"secret={secret}" in data["otpauth_uri"]
    assert "issuer=Miaohua" in data["otpauth_uri"]
    account = dbx.one(select(StaffAccount))
    assert account.totp_pending_ciphertext is not None and secret.encode() not in account.totp_pending_ciphertext
    assert not account.totp_enabled
    wrong = staff.post("/admin/api/session/totp/confirm", json={"code": "000000" if code_at(secret) != "000000"
                                                                 else "111111"})
    assert wrong.status_code == 422 and error_code(wrong) == "invalid_totp"
    assert staff.post("/admin/api/session/totp/confirm", json={"code": code_at(secret)}).status_code == 204
    account = dbx.one(select(StaffAccount))
    assert account.totp_enabled and account.totp_pending_ciphertext is None
    again = staff.post("/admin/api/session/totp")
    assert again.status_code == 409 and error_code(again) == "totp_already_enrolled"

    fresh = StaffClient(app)
    missing = fresh.try_login("sam")
    assert missing.status_code == 401 and error_code(missing) == "totp_required"
    replay = fresh.try_login("sam", totp=code_at(secret))  # the code used to confirm
    assert replay.status_code == 401 and error_code(replay) == "invalid_totp"
    assert fresh.try_login("sam", totp=code_at(secret, 1)).status_code == 200
    second_use = StaffClient(app).try_login("sam", totp=code_at(secret, 1))
    assert second_use.status_code == 401 and error_code(second_use) == "invalid_totp"
    actions = dbx.run(lambda s: list(s.scalars(select(AuditEntry.action).order_by(AuditEntry.id))))
    assert "staff.totp_begin" in actions and "staff.totp_enrolled" in actions
    assert actions.count("staff.login") == 2


def test_confirm_without_begin_is_a_conflict(app):
    create_staff(app, "sam", ["support"])
    staff = StaffClient.login(app, "sam")
    response = staff.post("/admin/api/session/totp/confirm", json={"code": "123456"})
    assert response.status_code == 409 and error_code(response) == "totp_enrolment_not_started"


def test_wrong_codes_count_towards_the_lockout(app, dbx, monkeypatch):
    monkeypatch.setitem(app.config, "STAFF_LOCKOUT_ATTEMPTS", 2)
    secret = pyotp.random_base32()
    create_staff(app, "sam", ["support"], totp_secret=secret)
    staff = StaffClient(app)
    bad = str((int(code_at(secret)) + 500000) % 1000000).zfill(6)
    for _ in range(2):
        response = staff.try_login("sam", totp=bad)
        assert error_code(response) == "invalid_totp"
    locked = staff.try_login("sam", totp=code_at(secret))
    assert locked.status_code == 423 and error_code(locked) == "staff_locked"
    assert dbx.count(StaffSession) == 0


def test_an_admin_resets_a_lost_second_factor(app, dbx):
    secret = pyotp.random_base32()
    create_staff(app, "sam", ["support"], totp_secret=secret)
    create_staff(app, "ada", ["admin"])
    sam = StaffClient.login(app, "sam", totp=code_at(secret))
    admin = StaffClient.login(app, "ada")
    no_reason = admin.post("/admin/api/staff/sam/totp/reset", json={})
    assert no_reason.status_code == 422
    response = admin.post("/admin/api/staff/sam/totp/reset", json={"reason": "lost phone, ticket 42"})
    assert response.status_code == 200 and json_of(response)["data"]["totp_enabled"] is False
    assert sam.get("/admin/api/session").status_code == 401  # the reset ends sam's sessions
    assert StaffClient(app).try_login("sam").status_code == 200  # password alone again, then re-enrol
    entry = dbx.one(select(AuditEntry).where(AuditEntry.action == "staff.totp_reset"))
    assert entry.staff_username == "ada" and entry.target_id == "sam" and entry.reason == "lost phone, ticket 42"
    missing = admin.post("/admin/api/staff/nobody/totp/reset", json={"reason": "typo check"})
    assert missing.status_code == 404 and error_code(missing) == "staff_not_found"
