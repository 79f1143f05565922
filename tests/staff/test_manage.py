"""Staff management by admins: create, list, change roles, disable; the guards against self-lockout."""

from __future__ import annotations

from sqlalchemy import select

from app.staff.models import AuditEntry, StaffAccount, StaffSession
from tests.staff.helpers import StaffClient, create_staff, json_of

STRONG = "a long enough passphrase"


def error_code(response) -> str:
    return json_of(response)["error"]["code"]


def test_create_list_and_log_in_as_the_new_account(app, dbx):
    create_staff(app, "ada", ["admin"])
    admin = StaffClient.login(app, "ada")
    created = admin.post("/admin/api/staff", json={"username": "Finn", "roles": ["finance", "support"],
                                                     "password": STRONG})
    assert created.status_code == 201, json_of(created)
    data = json_of(created)["data"]
    assert data["username"] == "finn" and data["roles"] == ["finance", "support"]
    assert "orders.refund" in data["permissions"] and "staff.manage" not in data["permissions"]
    listing = json_of(admin.get("/admin/api/staff"))["data"]["staff"]
    assert [row["username"] for row in listing] == ["ada", "finn"]
    assert StaffClient(app).try_login("finn", STRONG).status_code == 200
    stored = dbx.one(select(StaffAccount).where(StaffAccount.username == "finn"))
    assert stored.password_hash.startswith("$argon2id$") and STRONG not in stored.password_hash
    entry = dbx.one(select(AuditEntry).where(AuditEntry.action == "staff.create", AuditEntry.target_id == "finn"))
    assert entry.staff_username == "ada" and entry.roles == "admin" and STRONG not in str(entry.details)
    assert dbx.count(AuditEntry, AuditEntry.action == "staff.list") == 1


def test_bad_creations_get_clear_codes(app):
    create_staff(app, "ada", ["admin"])
    admin = StaffClient.login(app, "ada")

    def create(**fields):
        body = {"username": "finn", "roles": ["finance"], "password": STRONG, **fields}
        return admin.post("/admin/api/staff", json=body)

    cases = {
        "weak_password": [create(password="short1"), create(password="aaaaaaaaaaaaaaaa"),
                          create(password="finn-password-123")],
        "invalid_roles": [create(roles=["superuser"])],
        "invalid_username": [create(username="-bad name")],
        "validation_error": [create(roles=[])],
    }
    for code, responses in cases.items():
        for response in responses:
            assert response.status_code == 422 and error_code(response) == code, json_of(response)
    assert create().status_code == 201
    duplicate = create(username="FINN")
    assert duplicate.status_code == 409 and error_code(duplicate) == "staff_username_taken"


def test_role_change_and_disable_revoke_sessions_and_are_logged(app, dbx):
    create_staff(app, "ada", ["admin"])
    create_staff(app, "sam", ["support"])
    admin = StaffClient.login(app, "ada")
    sam = StaffClient.login(app, "sam")
    changed = admin.patch("/admin/api/staff/sam", json={"roles": ["support", "finance"], "reason": "covers refunds"})
    assert changed.status_code == 200 and json_of(changed)["data"]["roles"] == ["finance", "support"]
    assert sam.get("/admin/api/session").status_code == 401  # must log in again to get the new roles
    sam = StaffClient.login(app, "sam")
    assert "orders.refund" in sam.session_data["staff"]["permissions"]
    unchanged = admin.patch("/admin/api/staff/sam", json={"roles": ["finance", "support"]})
    assert unchanged.status_code == 200 and sam.get("/admin/api/session").status_code == 200
    disabled = admin.patch("/admin/api/staff/sam", json={"disabled": True, "reason": "left the company"})
    assert disabled.status_code == 200 and json_of(disabled)["data"]["disabled"] is True
    assert sam.get("/admin/api/session").status_code == 401
    assert error_code(StaffClient(app).try_login("sam")) == "staff_disabled"
    assert admin.patch("/admin/api/staff/sam", json={"disabled": False}).status_code == 200
    assert StaffClient(app).try_login("sam").status_code == 200
    actions = dbx.run(lambda s: [(e.action, e.reason) for e in s.scalars(
        select(AuditEntry).where(AuditEntry.target_id == "sam", AuditEntry.action.in_(
            ["staff.roles_change", "staff.disable", "staff.enable"])).order_by(AuditEntry.id))])
    assert actions == [("staff.roles_change", "covers refunds"), ("staff.disable", "left the company"),
                       ("staff.enable", None)]
    reasons = dbx.run(lambda s: sorted(filter(None, s.scalars(select(StaffSession.revoked_reason)))))
    assert reasons == ["disabled", "roles_changed"]


def test_nobody_locks_themselves_out(app, dbx):
    create_staff(app, "ada", ["admin", "auditor"])
    admin = StaffClient.login(app, "ada")
    demote = admin.patch("/admin/api/staff/ada", json={"roles": ["auditor"]})
    assert demote.status_code == 409 and error_code(demote) == "cannot_remove_own_admin"
    disable = admin.patch("/admin/api/staff/ada", json={"disabled": True})
    assert disable.status_code == 409 and error_code(disable) == "cannot_disable_self"
    assert dbx.one(select(StaffAccount)).roles == "admin,auditor"
    assert admin.get("/admin/api/session").status_code == 200
    # Changing one's other roles is allowed (and, as any role change, ends the session).
    assert admin.patch("/admin/api/staff/ada", json={"roles": ["admin"]}).status_code == 200


def test_patch_errors(app):
    create_staff(app, "ada", ["admin"])
    admin = StaffClient.login(app, "ada")
    missing = admin.patch("/admin/api/staff/nobody", json={"disabled": True})
    assert missing.status_code == 404 and error_code(missing) == "staff_not_found"
    assert error_code(admin.patch("/admin/api/staff/ada", json={})) == "validation_error"
    assert error_code(admin.patch("/admin/api/staff/ada", json={"roles": ["root"]})) == "invalid_roles"


def test_unlock_lifts_a_lockout(app, monkeypatch):
    monkeypatch.setitem(app.config, "STAFF_LOCKOUT_ATTEMPTS", 2)
    create_staff(app, "ada", ["admin"])
    create_staff(app, "sam", ["support"])
    admin = StaffClient.login(app, "ada")
    for _ in range(2):
        StaffClient(app).try_login("sam", "wrong password here")
    assert StaffClient(app).try_login("sam").status_code == 423
    listing = {row["username"]: row for row in json_of(admin.get("/admin/api/staff"))["data"]["staff"]}
    assert listing["sam"]["locked_until"] is not None
    assert admin.post("/admin/api/staff/sam/unlock", json={"reason": "confirmed by phone"}).status_code == 200
    assert StaffClient(app).try_login("sam").status_code == 200
