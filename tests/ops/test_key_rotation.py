"""Key rotation from the lifecycle registry (issue #15): every sealed column and stored object is re-keyed,
the old key can be removed, and nothing encrypted is left out of the registry."""

from __future__ import annotations

import pyotp
from sqlalchemy import Column, Integer, Table, func, select

from app.core import lifecycle, objects
from app.core.crypto import generate_key, keyring
from app.core.db import Sealed
from app.core.objects import StoredObject
from app.core.storage import object_store
from app.extensions import db
from app.ops.keys import sealed_columns_in_metadata, unregistered_sealed_columns
from app.privacy import deletion_log_copy
from tests.staff.helpers import StaffClient, create_staff, json_of
from tests.staff.test_totp import code_at
from tests.support.conftest import open_ticket
from tests.uploads.conftest import post_photo


def _plaintexts(app) -> dict[tuple[str, str, object], bytes]:
    """Every sealed value of every registered column, opened with the purpose its domain registered."""
    values = {}
    with app.app_context():
        ring = keyring()
        for sealed in lifecycle.sealed_columns():
            column = getattr(sealed.model, sealed.column)
            pk = next(iter(sealed.model.__table__.primary_key.columns))
            for row_id, value in db.session.execute(select(pk, column).where(column.is_not(None))):
                values[(*sealed.key, row_id)] = ring.open(value, sealed.purpose)
    return values


def _rotate(app, old_id: str, old_key: str) -> str:
    new_key = generate_key()
    app.config.update(ENCRYPTION_KEY=new_key, ENCRYPTION_KEY_ID="k-rotated", ENCRYPTION_OLD_KEYS=f"{old_id}:{old_key}")
    app.extensions.pop("keyring", None)
    result = app.test_cli_runner().invoke(args=["keys", "rewrap"])
    assert result.exit_code == 0, result.output
    app.config.update(ENCRYPTION_OLD_KEYS=None)  # the old key is gone for good
    app.extensions.pop("keyring", None)
    return result.output


def test_every_sealed_column_in_the_metadata_is_registered(app):
    with app.app_context():
        assert unregistered_sealed_columns() == []
        assert len(sealed_columns_in_metadata()) == len(lifecycle.sealed_columns())


def test_a_sealed_column_nobody_registered_is_found_and_rotation_refuses_to_run(app):
    table = Table("lifecycle_probe_secrets", db.metadata, Column("id", Integer, primary_key=True),
                  Column("secret_ciphertext", Sealed()))
    try:
        with app.app_context():
            assert unregistered_sealed_columns() == ["lifecycle_probe_secrets.secret_ciphertext"]
        result = app.test_cli_runner().invoke(args=["keys", "rewrap"])
        assert result.exit_code != 0
        assert "lifecycle_probe_secrets.secret_ciphertext" in result.output
    finally:
        db.metadata.remove(table)


def test_rotation_re_keys_every_encrypted_column_and_object_and_staff_still_log_in_with_totp(
        uploader, sample_jpeg, app, dbx):
    # Fill every encrypted column through the API: the user's phone, openid and session key (login and
    # binding), a ticket's subject and message, a staff TOTP secret and a pending enrolment, a rights-request
    # note, a kept Idempotency-Key response.
    assert post_photo(uploader, sample_jpeg).status_code == 201
    open_ticket(uploader, subject="Refund please", body="Order 42 was charged twice")
    kept = uploader.client.post("/api/v1/tickets", json={"category": "other", "subject": "Retried", "body": "Once"},
                                headers={**uploader.headers(), "Idempotency-Key": "rotation-test-1"})
    assert kept.status_code == 201, kept.get_json()
    secret = pyotp.random_base32()
    create_staff(app, "olga", ["privacy_officer"], totp_secret=secret)
    officer = StaffClient.login(app, "olga", totp=code_at(secret))
    create_staff(app, "pat", ["support"])
    assert StaffClient.login(app, "pat").post("/admin/api/session/totp").status_code == 200
    me = uploader.get("/api/v1/me").get_json()["data"]
    queued = officer.post("/admin/api/rights-requests", json={
        "user_public_id": me["id"], "kind": "deletion", "categories": ["operation_logs"], "channel": "email",
        "note": "Asked by email; identity checked by SMS"})
    assert queued.status_code == 201, json_of(queued)

    with app.app_context():
        for table, column in sealed_columns_in_metadata():
            filled = db.session.scalar(select(func.count()).select_from(db.metadata.tables[table])
                                       .where(db.metadata.tables[table].c[column].is_not(None)))
            assert filled, f"{table}.{column} holds no value: the test must fill every encrypted column"
        files = {obj.id: objects.read(obj) for obj in db.session.scalars(
            select(StoredObject).where(StoredObject.wrapped_key.is_not(None)))}
    assert files
    # A deletion, copied off the database (sealed whole with the keyring): a restore must still read it.
    deleted = post_photo(uploader, sample_jpeg).get_json()["data"]["id"]
    assert uploader.call("DELETE", f"/api/v1/uploads/{deleted}").status_code == 204
    copied = app.test_cli_runner().invoke(args=["privacy", "copy-deletions"])
    assert copied.exit_code == 0, copied.output
    with app.app_context():
        segments = object_store().keys(deletion_log_copy.PREFIX + "/")
        logged = [entry for batch in deletion_log_copy.copied_entries(None) for entry in batch]
    assert segments and logged
    before = _plaintexts(app)

    old_key, old_id = app.config["ENCRYPTION_KEY"], app.config["ENCRYPTION_KEY_ID"]
    try:
        output = _rotate(app, old_id, old_key)
        assert f"re-sealed {len(before)} field(s)" in output and f"re-wrapped {len(files)} object key(s)" in output
        assert f"and {len(segments)} file(s)" in output
        with app.app_context():  # after a restore, replay-deletions reads the copies with the new key only
            assert [entry for batch in deletion_log_copy.copied_entries(None) for entry in batch] == logged
        assert _plaintexts(app) == before  # opened with the new key only
        with app.app_context():
            for obj in db.session.scalars(select(StoredObject).where(StoredObject.wrapped_key.is_not(None))):
                assert obj.kek_id == "k-rotated" and objects.read(obj) == files[obj.id]
        # A staff member with TOTP logs in afterwards; the user's phone still opens for them.
        again = StaffClient(app).try_login("olga", totp=code_at(secret, 1))
        assert again.status_code == 200, json_of(again)
        assert uploader.get("/api/v1/me").get_json()["data"]["phone_masked"] == me["phone_masked"]
        queue = json_of(officer.get("/admin/api/rights-requests?status=pending"))["data"]["requests"]
        assert [r["note"] for r in queue] == ["Asked by email; identity checked by SMS"]
    finally:
        app.config.update(ENCRYPTION_KEY=old_key, ENCRYPTION_KEY_ID=old_id, ENCRYPTION_OLD_KEYS=None)
        app.extensions.pop("keyring", None)
