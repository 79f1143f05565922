"""The deletion log (policy §8(2)): deletions are logged as ids and replayed after a backup is restored."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, insert, select

from app.accounts.models import User, WechatIdentity
from app.core.db import utcnow
from app.core.objects import StoredObject
from app.core.storage import object_store
from app.extensions import db
from app.generation.models import GenerationResult
from app.orders.models import Order
from app.privacy import retention, rights
from app.privacy.deletion_log import DeletionLogEntry
from app.privacy.models import OperationLog
from app.privacy.receipts import write_receipt
from app.uploads import services as uploads
from app.uploads.models import Upload
from tests.privacy.test_retention import (
    DAY,
    alive,
    count,
    gone,
    hexid,
    make_job,
    make_order,
    make_result,
    make_upload,
    make_user,
    op_log,
)

# --- a backup, as a restore would bring it back -------------------------------------------------------------


def take_backup() -> dict:
    """Every row of every table, and every stored file (what a database dump + storage snapshot hold)."""
    rows = {table.name: [dict(row._mapping) for row in db.session.execute(select(table))]
            for table in db.metadata.sorted_tables}
    store = object_store()
    files = {}
    for obj in db.session.scalars(select(StoredObject)):
        if store.exists(obj.storage_key):
            files[obj.storage_key] = store.get(obj.storage_key)
    return {"rows": rows, "files": files}


def restore(backup: dict, *, with_log: bool) -> None:
    """Put the backup back; ``with_log=False`` keeps today's deletion log (as if it were kept off-site)."""
    db.session.rollback()
    keep = set() if with_log else {"deletion_log"}
    for table in reversed(db.metadata.sorted_tables):
        if table.name not in keep:
            db.session.execute(delete(table))
    for table in db.metadata.sorted_tables:
        if table.name not in keep and backup["rows"][table.name]:
            db.session.execute(insert(table), backup["rows"][table.name])
    db.session.commit()
    store = object_store()
    for key, data in backup["files"].items():
        store.put(key, data)
    db.session.expunge_all()


def seed(now) -> dict:
    alice, bob = make_user("Alice"), make_user("Bob")
    db.session.add(WechatIdentity(user_id=bob.id, appid="wx1", openid_hash=hexid() * 2, openid_ciphertext=b"x"))
    upload = make_upload(alice)
    job = make_job(alice, finished_at=now - 95 * DAY)
    old_result = make_result(job, created_at=now - 95 * DAY)
    new_result = make_result(make_job(alice, finished_at=now - DAY), created_at=now - DAY)
    bob_upload = make_upload(bob)
    for _ in range(3):
        op_log(alice, now - 200 * DAY)
    op_log(alice, now - DAY)
    orphan = make_order(None, created_at=now - DAY)
    bob_order = make_order(bob, created_at=now - DAY)
    db.session.commit()
    return {"alice": alice.id, "bob": bob.id, "bob_public": bob.public_id, "upload": upload.id,
            "upload_object": upload.object_id, "bob_upload_object": bob_upload.object_id,
            "old_result": old_result.id, "old_objects": (old_result.original_object_id, old_result.preview_object_id),
            "new_objects": (new_result.original_object_id, new_result.preview_object_id),
            "orphan": orphan.id, "bob_order": bob_order.id}


def delete_things(ids: dict, now) -> None:
    """Deletions through the code paths that really do them."""
    uploads.delete(db.session.get(Upload, ids["upload"]), "user_request")  # DELETE /api/v1/uploads/<id>
    db.session.commit()
    retention.run_retention(now=now)  # the old result, old logs, the orphan order's openid hash
    rights.cancel_account(db.session.get(User, ids["bob"]), reason="test")  # §8(4)


def assert_deleted(ids: dict) -> None:
    db.session.expunge_all()
    assert gone(ids["upload_object"]) and gone(ids["bob_upload_object"])
    assert db.session.get(Upload, ids["upload"]).deleted_at is not None
    assert all(gone(obj) for obj in ids["old_objects"])
    assert db.session.get(GenerationResult, ids["old_result"]) is None  # went with its 95-day-old job
    assert all(alive(obj) for obj in ids["new_objects"])
    assert count(OperationLog, OperationLog.user_id == ids["alice"]) == 1
    assert db.session.get(Order, ids["orphan"]).payer_openid_hash is None
    assert db.session.get(User, ids["bob"]) is None
    assert count(WechatIdentity) == 0
    bob_order = db.session.get(Order, ids["bob_order"])
    assert bob_order.user_id is None and bob_order.payer_openid_hash is None
    assert bob_order.prepay_id is None  # every WeChat reference, after a replay too (orders' kept_pseudonymised)


def test_every_deletion_path_writes_ids_only_to_the_log(app_ctx):
    now = utcnow()
    ids = seed(now)
    delete_things(ids, now)
    entries = db.session.scalars(select(DeletionLogEntry).order_by(DeletionLogEntry.id)).all()
    by_table = {(e.table_name, e.action) for e in entries}
    assert {("uploads", "destroy"), ("generation_results", "destroy"), ("operation_logs", "delete"),
            ("orders", "anonymise"), ("users", "delete")} <= by_table
    upload_entry = next(e for e in entries if e.object_id == ids["upload_object"])
    assert upload_entry.table_name == "uploads" and upload_entry.object_key.startswith("portrait_upload/")
    assert upload_entry.reason == "user_request" and upload_entry.data_kind == "portrait_upload"
    # The account: its orders are pseudonymised (logged first), then the user row goes.
    account = [e for e in entries if e.user_public_id == ids["bob_public"] or e.public_id == ids["bob_public"]]
    assert [(e.table_name, e.action) for e in account][-2:] == [("orders", "anonymise"), ("users", "delete")]
    # Nothing but ids: no column of the log can hold content.
    assert set(DeletionLogEntry.__table__.c.keys()) == {
        "id", "table_name", "row_id", "public_id", "user_public_id", "object_id", "object_key", "action", "columns",
        "data_kind", "reason", "deleted_at", "copied_at"}


def test_replay_after_restoring_a_backup_deletes_everything_again(app, app_ctx):
    now = utcnow()
    ids = seed(now)
    backup = take_backup()
    since = utcnow()
    delete_things(ids, now)
    assert_deleted(ids)

    restore(backup, with_log=False)
    assert alive(ids["upload_object"]) and alive(ids["old_objects"][0])  # the backup brought them back
    assert db.session.get(User, ids["bob"]) is not None
    db.session.remove()

    runner = app.test_cli_runner()
    out = runner.invoke(args=["privacy", "replay-deletions", "--since", since.isoformat()])
    assert out.exit_code == 0, out.output
    counts = dict(pair.split("=") for pair in out.output.split())
    assert int(counts["files_deleted"]) == 4 and int(counts["keys_dropped"]) == 4  # 2 uploads, 2 result objects
    assert int(counts["rows_deleted"]) >= 4 and int(counts["rows_anonymised"]) == 2
    assert counts["unresolved"] == "0"
    assert_deleted(ids)

    db.session.remove()
    again = runner.invoke(args=["privacy", "replay-deletions", "--since", since.isoformat()])
    assert again.exit_code == 0, again.output
    counts = dict(pair.split("=") for pair in again.output.split())
    assert int(counts["entries"]) > 0
    assert {k: v for k, v in counts.items() if k not in ("entries",)} == {
        "rows_deleted": "0", "rows_anonymised": "0", "rows_marked_deleted": "0", "files_deleted": "0",
        "keys_dropped": "0", "unresolved": "0"}


def test_replay_from_an_off_site_copy_when_the_restore_also_rewound_the_log(app, app_ctx, tmp_path):
    now = utcnow()
    ids = seed(now)
    backup = take_backup()
    since = utcnow() - timedelta(seconds=1)
    delete_things(ids, now)
    copy = tmp_path / "deletions.jsonl"
    runner = app.test_cli_runner()
    out = runner.invoke(args=["privacy", "export-deletions", "--since", since.isoformat(), "--output", str(copy)])
    assert out.exit_code == 0, out.output
    lines = copy.read_text().splitlines()
    assert lines and all('"table_name"' in line for line in lines)

    restore(backup, with_log=True)  # the log is back to the backup's: it knows nothing of the deletions
    assert count(DeletionLogEntry) == len(backup["rows"]["deletion_log"])
    db.session.remove()
    out = runner.invoke(args=["privacy", "replay-deletions", "--since", since.isoformat(), "--input", str(copy)])
    assert out.exit_code == 0, out.output
    assert_deleted(ids)


def test_a_receipt_of_an_unknown_kind_is_logged_and_reported_unresolved(app, app_ctx):
    since = utcnow() - timedelta(seconds=1)
    write_receipt(None, "hologram", hexid(), "user_request")
    db.session.commit()
    entry = db.session.scalar(select(DeletionLogEntry))
    assert entry.table_name is None and entry.data_kind == "hologram"
    db.session.remove()
    out = app.test_cli_runner().invoke(args=["privacy", "replay-deletions", "--since", since.isoformat()])
    assert out.exit_code == 0
    assert "unresolved=1" in out.output and "check them by hand" in out.output


def test_replay_refuses_a_time_that_is_not_iso(app):
    out = app.test_cli_runner().invoke(args=["privacy", "replay-deletions", "--since", "yesterday"])
    assert out.exit_code == 2 and "ISO 8601" in out.output
