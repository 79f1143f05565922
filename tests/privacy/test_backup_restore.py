"""Backups (policy §8(2)): pg_dump, deletions, pg_restore into a fresh database, one command, nothing left.

The deletion log is copied to object storage after every commit that logs (a maintenance job), so the
deletions made after the dump survive the restore that rewinds the database's own log.
"""

import subprocess
import uuid

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from app.accounts.models import User, WechatIdentity
from app.core.objects import StoredObject
from app.core.storage import object_store
from app.extensions import db
from app.generation.models import GenerationResult
from app.privacy import deletion_log_copy
from app.privacy.deletion_log import DeletionLogEntry
from tests.accounts.conftest import sms_code
from tests.conftest import TEST_DATABASE_URL, make_app
from tests.privacy.conftest import run_queue
from tests.privacy.test_rights import scan_for, seed_everything


def _libpq(url) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _clear_copies(app) -> None:
    with app.app_context():
        store = object_store()
        for key in store.keys(deletion_log_copy.PREFIX + "/"):
            store.delete(key)


def test_every_logged_deletion_is_copied_off_the_database_after_its_commit(uploader, sample_jpeg, app,
                                                                           wechat_sandbox, dbx):
    _clear_copies(app)
    seed_everything(uploader, sample_jpeg, app, wechat_sandbox)  # the job's source photo is deleted
    assert dbx.count(DeletionLogEntry, DeletionLogEntry.copied_at.is_(None)) > 0
    run_queue(app, "maintenance")  # the copy job queued by that commit
    assert dbx.count(DeletionLogEntry, DeletionLogEntry.copied_at.is_(None)) == 0
    with app.app_context():
        copied = [entry for batch in deletion_log_copy.copied_entries(None) for entry in batch]
        raw = object_store().get(object_store().keys("deletion-log/")[0])
    assert {e["id"] for e in copied} == {e.id for e in dbx.run(lambda s: list(s.scalars(select(DeletionLogEntry))))}
    assert b"table_name" not in raw  # sealed with the keyring, like every other stored object
    assert dbx.count(DeletionLogEntry) == len(copied)
    run_queue(app, "maintenance")  # nothing new: nothing copied twice
    with app.app_context():
        assert sum(len(batch) for batch in deletion_log_copy.copied_entries(None)) == len(copied)


@pytest.mark.postgres
def test_after_pg_restore_one_command_replays_every_deletion_since_the_dump(uploader, sample_jpeg, app,
                                                                            wechat_sandbox, client, dbx, tmp_path):
    _clear_copies(app)
    ids = seed_everything(uploader, sample_jpeg, app, wechat_sandbox)
    run_queue(app, "maintenance")
    user = dbx.one(select(User))
    identity = dbx.one(select(WechatIdentity))
    values = {user.phone_hash, identity.openid_hash, user.public_id}

    source_url = make_url(TEST_DATABASE_URL)
    dump = tmp_path / "backup.dump"
    subprocess.run(["pg_dump", "--format=custom", "--no-owner", f"--file={dump}", f"--dbname={_libpq(source_url)}"],
                   check=True, timeout=120)

    # After the backup: a result deleted, then the account cancelled.
    deleted = uploader.call("POST", "/api/v1/me/deletion-requests", json={"categories": ["results"]})
    assert deleted.status_code == 201, deleted.get_json()
    assert uploader.call("POST", "/api/v1/me/cancellation/code").status_code == 202
    done = uploader.call("POST", "/api/v1/me/cancellation", json={"code": sms_code(client, "13811112222")})
    assert done.status_code == 204
    run_queue(app, "maintenance")  # the copies, as the workers make them after each commit
    assert dbx.count(DeletionLogEntry, DeletionLogEntry.copied_at.is_(None)) == 0

    fresh = f"mh_restore_{uuid.uuid4().hex[:10]}"
    admin = create_engine(source_url.set(drivername="postgresql+psycopg", database="postgres"),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{fresh}"'))
    fresh_url = source_url.set(database=fresh)
    restored = make_app(SQLALCHEMY_DATABASE_URI=fresh_url.set(drivername="postgresql+psycopg")
                        .render_as_string(hide_password=False), SQLALCHEMY_ENGINE_OPTIONS={},
                        STORAGE_LOCAL_ROOT=app.config["STORAGE_LOCAL_ROOT"])
    try:
        subprocess.run(["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={_libpq(fresh_url)}", str(dump)],
                       check=True, timeout=120)
        with restored.app_context():
            assert scan_for(values, user.id), "the restore brought the user back"
            result = db.session.scalar(select(GenerationResult).where(GenerationResult.public_id == ids["result"]))
            assert result.deleted_at is None
            db.session.remove()

        out = restored.test_cli_runner().invoke(args=["privacy", "replay-deletions"])
        assert out.exit_code == 0, out.output
        counts = dict(pair.split("=") for pair in out.output.split() if "=" in pair)
        assert int(counts["rows_deleted"]) >= 1 and counts["unresolved"] == "0"

        with restored.app_context():
            assert scan_for(values, user.id) == []
            assert db.session.get(User, user.id) is None
            assert db.session.scalar(select(GenerationResult).where(
                GenerationResult.public_id == ids["result"], GenerationResult.deleted_at.is_(None))) is None
            assert db.session.scalar(select(StoredObject.id).where(StoredObject.wrapped_key.is_not(None))) is None
            db.session.remove()
        again = restored.test_cli_runner().invoke(args=["privacy", "replay-deletions"])
        assert again.exit_code == 0 and "rows_deleted=0" in again.output and "files_deleted=0" in again.output
    finally:
        with restored.app_context():
            db.session.remove()
            db.engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)'))
        admin.dispose()
