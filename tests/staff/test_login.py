"""Staff login: success, failures without enumeration, lock-out, disabled accounts, cookie attributes."""

from __future__ import annotations

from sqlalchemy import select

from app.staff.models import AuditEntry, StaffAccount, StaffSession
from tests.staff.helpers import DEFAULT_PASSWORD, StaffClient, create_staff, json_of


def error_code(response) -> str:
    return json_of(response)["error"]["code"]


def test_login_sets_a_secure_httponly_strict_cookie_and_returns_csrf(app, dbx):
    create_staff(app, "sam", ["support"])
    staff = StaffClient(app)
    response = staff.try_login("sam")
    assert response.status_code == 200
    data = json_of(response)["data"]
    assert data["staff"]["username"] == "sam"
    assert data["staff"]["roles"] == ["support"]
    assert "users.read" in data["staff"]["permissions"] and "orders.refund" not in data["staff"]["permissions"]
    assert data["csrf_token"]
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("mh_staff=mhs_")
    for attribute in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/admin"):
        assert attribute in cookie.split("; "), cookie
    assert response.headers["Cache-Control"] == "no-store"
    # The token is stored only as a hash.
    token = cookie.split(";")[0].split("=", 1)[1]
    stored = dbx.one(select(StaffSession))
    assert stored.token_hash != token and len(stored.token_hash) == 64
    me = staff.get("/admin/api/session")
    assert me.status_code == 200, json_of(me)
    assert json_of(me)["data"]["csrf_token"] == data["csrf_token"]
    assert me.headers["Cache-Control"] == "no-store"
    entry = dbx.one(select(AuditEntry).where(AuditEntry.action == "staff.login"))
    assert entry.staff_username == "sam" and entry.roles == "support" and entry.request_id


def test_cookie_is_not_secure_only_when_configured_off(app, monkeypatch):
    """`make run` serves plain http on localhost: STAFF_COOKIE_SECURE=0 drops only the Secure flag."""
    monkeypatch.setitem(app.config, "STAFF_COOKIE_SECURE", False)
    monkeypatch.setitem(app.config, "STAFF_COOKIE_NAME", "mh_staff_dev")
    create_staff(app, "dev", ["admin"])
    response = StaffClient(app).try_login("dev")
    attributes = response.headers["Set-Cookie"].split("; ")
    assert attributes[0].startswith("mh_staff_dev=")
    assert "Secure" not in attributes and "HttpOnly" in attributes and "SameSite=Strict" in attributes


def test_unknown_user_and_wrong_password_look_the_same_and_cost_the_same(app, dbx, monkeypatch):
    from app.staff import passwords

    create_staff(app, "sam", ["support"])
    from argon2 import PasswordHasher

    verifications: list[str] = []

    class CountingHasher(PasswordHasher):
        def verify(self, hash, password):
            verifications.append(hash if isinstance(hash, str) else hash.decode())
            return super().verify(hash, password)

    counting = CountingHasher()
    monkeypatch.setattr(passwords, "_hasher", lambda: counting)
    staff = StaffClient(app)
    wrong = staff.try_login("sam", "not the password at all")
    unknown = staff.try_login("nobody", "not the password at all")
    assert wrong.status_code == unknown.status_code == 401
    assert error_code(wrong) == error_code(unknown) == "invalid_credentials"
    assert json_of(wrong)["error"]["message"] == json_of(unknown)["error"]["message"]
    assert "Set-Cookie" not in wrong.headers and "Set-Cookie" not in unknown.headers
    # One full argon2 verification each: the unknown user is checked against a dummy hash.
    assert len(verifications) == 2
    assert verifications[0].startswith("$argon2id$") and verifications[1].startswith("$argon2id$")
    assert verifications[0] != verifications[1]
    failed = dbx.run(lambda s: [(e.target_id, e.details) for e in s.scalars(
        select(AuditEntry).where(AuditEntry.action == "staff.login_failed").order_by(AuditEntry.id))])
    assert failed == [("sam", {"reason": "wrong_password"}), (None, {"reason": "unknown_account"})]
    assert dbx.count(StaffSession) == 0


def test_lockout_after_repeated_failures_then_release(app, dbx, monkeypatch):
    monkeypatch.setitem(app.config, "STAFF_LOCKOUT_ATTEMPTS", 3)
    create_staff(app, "sam", ["support"])
    staff = StaffClient(app)
    for _ in range(3):
        response = staff.try_login("sam", "wrong password here")
        assert error_code(response) == "invalid_credentials"
    locked = staff.try_login("sam")  # even the right password is refused while locked
    assert locked.status_code == 423 and error_code(locked) == "staff_locked"
    assert json_of(locked)["error"]["details"]["retry_after"] > 0
    account = dbx.one(select(StaffAccount))
    assert account.locked_until is not None and account.failed_attempts == 0
    actions = dbx.run(lambda s: list(s.scalars(select(AuditEntry.action).order_by(AuditEntry.id))))
    assert actions == ["staff.create", "staff.login_failed", "staff.login_failed", "staff.login_failed",
                       "staff.locked", "staff.login_failed"]
    # The lock expires by itself.
    from sqlalchemy import update

    from app.core.db import utcnow

    dbx.execute(update(StaffAccount).values(locked_until=utcnow()))
    assert staff.try_login("sam").status_code == 200
    account = dbx.one(select(StaffAccount))
    assert account.locked_until is None and account.failed_attempts == 0


def test_unknown_usernames_lock_out_the_same_way(app, monkeypatch):
    monkeypatch.setitem(app.config, "STAFF_LOCKOUT_ATTEMPTS", 3)
    staff = StaffClient(app)
    codes = [error_code(staff.try_login("ghost", "wrong password here")) for _ in range(4)]
    assert codes == ["invalid_credentials"] * 3 + ["staff_locked"]
    assert staff.try_login("ghost", "wrong password here").status_code == 423


def test_a_success_resets_the_failure_count(app, dbx, monkeypatch):
    monkeypatch.setitem(app.config, "STAFF_LOCKOUT_ATTEMPTS", 3)
    create_staff(app, "sam", ["support"])
    staff = StaffClient(app)
    for _ in range(2):
        staff.try_login("sam", "wrong password here")
    assert staff.try_login("sam").status_code == 200
    assert dbx.one(select(StaffAccount)).failed_attempts == 0
    staff.try_login("sam", "wrong password here")
    assert staff.try_login("sam").status_code == 200


def test_disabled_account_cannot_log_in(app, dbx):
    from sqlalchemy import update

    from app.core.db import utcnow

    create_staff(app, "sam", ["support"])
    dbx.execute(update(StaffAccount).values(disabled_at=utcnow()))
    staff = StaffClient(app)
    wrong = staff.try_login("sam", "wrong password here")
    assert wrong.status_code == 401 and error_code(wrong) == "invalid_credentials"
    right = staff.try_login("sam")
    assert right.status_code == 403 and error_code(right) == "staff_disabled"
    assert "Set-Cookie" not in right.headers


def test_username_is_case_insensitive_and_password_is_not(app):
    create_staff(app, "sam", ["support"])
    staff = StaffClient(app)
    assert staff.try_login("SAM").status_code == 200
    assert staff.try_login("sam", DEFAULT_PASSWORD.upper()).status_code == 401


def test_bad_login_bodies_get_clear_errors(app):
    staff = StaffClient(app)
    assert error_code(staff.request("POST", "/admin/api/session", json={"username": "sam"})) == "validation_error"
    assert error_code(staff.request("POST", "/admin/api/session", data="x")) == "unsupported_media_type"
    response = staff.request("POST", "/admin/api/session", json={"username": "a", "password": "b", "role": "x"})
    assert response.status_code == 422


def test_old_hash_parameters_are_upgraded_at_login(app, dbx, monkeypatch):
    from argon2 import PasswordHasher
    from sqlalchemy import update

    monkeypatch.setitem(app.config, "STAFF_PASSWORD_HASH_PROFILE", "rfc9106_low_memory")  # production's
    create_staff(app, "sam", ["support"])
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(DEFAULT_PASSWORD)
    dbx.execute(update(StaffAccount).values(password_hash=weak))
    assert StaffClient(app).try_login("sam").status_code == 200
    upgraded = dbx.one(select(StaffAccount)).password_hash
    assert upgraded != weak and "m=65536" in upgraded
    assert StaffClient(app).try_login("sam").status_code == 200
