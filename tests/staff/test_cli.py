"""``flask staff create-admin | list | reset-totp``."""

from __future__ import annotations

from sqlalchemy import select

from app.staff.models import AuditEntry, StaffAccount
from tests.staff.helpers import StaffClient, create_staff

STRONG = "first admin passphrase 9"


def test_create_admin_from_stdin_then_log_in(app, dbx):
    result = app.test_cli_runner().invoke(args=["staff", "create-admin", "Root", "--password-stdin"],
                                          input=STRONG + "\n")
    assert result.exit_code == 0, result.output
    assert "created staff root with roles admin" in result.output
    account = dbx.one(select(StaffAccount))
    assert account.username == "root" and account.roles == "admin" and account.password_hash.startswith("$argon2id$")
    admin = StaffClient.login(app, "root", STRONG)
    assert admin.get("/admin/api/staff").status_code == 200
    entry = dbx.one(select(AuditEntry).where(AuditEntry.action == "staff.create"))
    assert entry.staff_username.startswith("cli") and entry.target_id == "root"


def test_create_admin_with_prompt_and_extra_roles(app, dbx):
    result = app.test_cli_runner().invoke(
        args=["staff", "create-admin", "ops", "--role", "admin", "--role", "auditor"],
        input=f"{STRONG}\n{STRONG}\n")
    assert result.exit_code == 0, result.output
    assert dbx.one(select(StaffAccount)).roles == "admin,auditor"


def test_create_admin_refuses_weak_passwords_duplicates_and_bad_names(app, dbx):
    runner = app.test_cli_runner()
    weak = runner.invoke(args=["staff", "create-admin", "root", "--password-stdin"], input="short\n")
    assert weak.exit_code == 1 and "too weak" in weak.output
    has_name = runner.invoke(args=["staff", "create-admin", "root", "--password-stdin"], input="root-passphrase-1\n")
    assert has_name.exit_code == 1 and "username" in has_name.output
    bad_name = runner.invoke(args=["staff", "create-admin", "no spaces", "--password-stdin"], input=STRONG + "\n")
    assert bad_name.exit_code == 1 and "invalid_username" in bad_name.output
    assert dbx.count(StaffAccount) == 0
    assert runner.invoke(args=["staff", "create-admin", "root", "--password-stdin"], input=STRONG).exit_code == 0
    again = runner.invoke(args=["staff", "create-admin", "root", "--password-stdin"], input=STRONG)
    assert again.exit_code == 1 and "staff_username_taken" in again.output
    assert dbx.count(StaffAccount) == 1


def test_list_and_reset_totp(app, dbx):
    create_staff(app, "sam", ["support"], totp_secret="JBSWY3DPEHPK3PXP")
    runner = app.test_cli_runner()
    listing = runner.invoke(args=["staff", "list"])
    assert listing.exit_code == 0 and "sam\tsupport\ttotp=yes\tactive" in listing.output
    missing = runner.invoke(args=["staff", "reset-totp", "nobody", "--reason", "lost phone"])
    assert missing.exit_code == 1 and "staff_not_found" in missing.output
    reset = runner.invoke(args=["staff", "reset-totp", "sam", "--reason", "lost phone"])
    assert reset.exit_code == 0
    assert dbx.one(select(StaffAccount)).totp_secret_ciphertext is None
    assert "totp=no" in runner.invoke(args=["staff", "list"]).output
    entry = dbx.one(select(AuditEntry).where(AuditEntry.action == "staff.totp_reset"))
    assert entry.reason == "lost phone"
