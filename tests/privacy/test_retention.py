"""The retention table (policy §5): what is due is deleted or anonymised, in batches, exactly once."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from app.accounts.models import LoginSession, SmsCode, User
from app.config import load_config
from app.core import objects
from app.core.db import utcnow
from app.core.objects import StoredObject
from app.core.storage import object_store
from app.extensions import db
from app.generation.models import GenerationJob, GenerationResult
from app.ops.periodic import PERIODIC_JOBS
from app.orders.models import Order, OrderEvent
from app.privacy import retention
from app.privacy.deletion_log import DeletionLogEntry
from app.privacy.models import DeletionReceipt, OperationLog
from app.uploads.models import Upload

SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)


# --- seeding helpers (also used by test_deletion_log.py and test_shutdown.py) ----------------------------

def hexid() -> str:
    return uuid.uuid4().hex


def make_user(nickname: str = "小明", **fields) -> User:
    user = User(public_id=hexid(), nickname=nickname, phone_hash=fields.pop("phone_hash", hexid() * 2),
                phone_masked="138****0000", **fields)
    db.session.add(user)
    db.session.flush()
    return user


def make_upload(user: User, *, deleted_at=None, created_at=None, claimed_by=None) -> Upload:
    stored = objects.store("portrait_upload", b"portrait bytes " + hexid().encode(), "image/jpeg")
    upload = Upload(user_id=user.id, status="ready", declaration="own_face", stored_object=stored, width=512,
                    height=512, source_format="jpeg", created_at=created_at or utcnow(), deleted_at=deleted_at,
                    claimed_by=claimed_by)
    db.session.add(upload)
    db.session.flush()
    return upload


def make_job(user: User, *, status: str = "succeeded", finished_at=None, created_at=None) -> GenerationJob:
    job = GenerationJob(user_id=user.id, style_id="pop_art", status=status, rq_job_id=hexid(),
                        created_at=created_at or finished_at or utcnow(), finished_at=finished_at,
                        sources_deleted_at=finished_at)
    db.session.add(job)
    db.session.flush()
    return job


def make_result(job: GenerationJob, *, created_at=None, deleted_at=None) -> GenerationResult:
    original = objects.store("result_original", b"original " + hexid().encode(), "image/png")
    preview = objects.store("result_preview", b"preview " + hexid().encode(), "image/jpeg")
    result = GenerationResult(job_id=job.id, user_id=job.user_id, kind="image", mime_type="image/png", width=64,
                              height=64, original=original, preview=preview, created_at=created_at or utcnow(),
                              deleted_at=deleted_at)
    db.session.add(result)
    db.session.flush()
    return result


def make_session(user: User, *, expires_at, revoked_at=None) -> LoginSession:
    session = LoginSession(user_id=user.id, token_hash=hexid() * 2, method="wechat", expires_at=expires_at,
                           revoked_at=revoked_at, created_at=expires_at - 30 * DAY)
    db.session.add(session)
    db.session.flush()
    return session


def make_order(user: User | None, *, created_at, status: str = "fulfilled", payer: str | None = None) -> Order:
    order = Order(out_trade_no="MH" + hexid()[:24], user_id=user.id if user else None, product_id="hd_result",
                  amount_fen=990, status=status, payer_openid_hash=payer or hexid() * 2, prepay_id="wx" + hexid(),
                  created_at=created_at, expires_at=created_at + timedelta(minutes=30))
    db.session.add(order)
    db.session.flush()
    db.session.add(OrderEvent(order_id=order.id, from_status="created", to_status=status, cause="test",
                              created_at=created_at))
    return order


def op_log(user: User, created_at) -> OperationLog:
    row = OperationLog(user_id=user.id, action="download_preview", subject_type="result", subject_id=hexid(),
                       created_at=created_at)
    db.session.add(row)
    return row


def alive(obj_id: str) -> bool:
    """The stored object still has its data key and its file."""
    obj = db.session.get(StoredObject, obj_id)
    db.session.refresh(obj)
    return obj.wrapped_key is not None and object_store().exists(obj.storage_key)


def gone(obj_id: str) -> bool:
    obj = db.session.get(StoredObject, obj_id)
    db.session.refresh(obj)
    return obj.wrapped_key is None and obj.destroyed_at is not None and not object_store().exists(obj.storage_key)


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


@pytest.fixture
def now():
    return utcnow().replace(microsecond=0)


# --- the table ------------------------------------------------------------------------------------------

def test_each_class_deletes_exactly_what_is_due_and_keeps_what_is_one_second_short(app_ctx, now):
    config = app_ctx.config["RETENTION"]
    due = {name: now - timedelta(days=setting["days"]) for name, setting in config.items()}
    user = make_user()

    # results: 90 days after creation (both objects destroyed, row marked, receipt written)
    job_r = make_job(user, finished_at=now - 10 * DAY)
    result_due = make_result(job_r, created_at=due["results"])
    result_kept = make_result(job_r, created_at=due["results"] + SECOND)
    # generation jobs: 90 days after finishing, once their results are gone (this one's goes in the same run)
    job_due = make_job(user, finished_at=due["generation_jobs"])
    result_of_job_due = make_result(job_due, created_at=due["generation_jobs"])
    job_short = make_job(user, finished_at=due["generation_jobs"] + SECOND)
    make_result(job_short, created_at=due["generation_jobs"] - DAY, deleted_at=now - DAY)
    job_live_result = make_job(user, finished_at=due["generation_jobs"])
    make_result(job_live_result, created_at=now - DAY)
    job_running = make_job(user, status="running", created_at=due["generation_jobs"] - DAY)
    # records of deleted uploads: 90 days after deletion
    upload_due = make_upload(user, deleted_at=due["deleted_uploads"])
    upload_kept = make_upload(user, deleted_at=due["deleted_uploads"] + SECOND)
    # operation logs: 180 days
    log_due, log_kept = op_log(user, due["operation_logs"]), op_log(user, due["operation_logs"] + SECOND)
    # sessions: 30 days after expiry or revocation
    expired_due = make_session(user, expires_at=due["login_sessions"])
    expired_kept = make_session(user, expires_at=due["login_sessions"] + SECOND)
    revoked_due = make_session(user, expires_at=now + DAY, revoked_at=due["login_sessions"])
    revoked_kept = make_session(user, expires_at=now + DAY, revoked_at=due["login_sessions"] + SECOND)
    live = make_session(user, expires_at=now + DAY)
    # SMS codes: 1 day
    sms_due = SmsCode(phone_hash=hexid(), purpose="login", code_hash=hexid(), created_at=due["sms_codes"],
                      expires_at=due["sms_codes"] + timedelta(minutes=5))
    sms_kept = SmsCode(phone_hash=hexid(), purpose="login", code_hash=hexid(), created_at=due["sms_codes"] + SECOND,
                       expires_at=due["sms_codes"] + timedelta(minutes=5))
    db.session.add_all([sms_due, sms_kept])
    # orders: 3 years, then deleted with their events; orders whose account is gone: pseudonymised at once
    order_due = make_order(user, created_at=due["orders"])
    order_kept = make_order(user, created_at=due["orders"] + SECOND)
    order_refunding = make_order(user, created_at=due["orders"] - DAY, status="refunding")
    orphan = make_order(None, created_at=now - DAY)
    # receipts: 3 years; the deletion log: its own period, never logged itself
    receipt_due = DeletionReceipt(user_id=user.id, data_kind="portrait_upload", subject_id=hexid(), reason="t",
                                  deleted_at=due["deletion_receipts"])
    receipt_kept = DeletionReceipt(user_id=user.id, data_kind="portrait_upload", subject_id=hexid(), reason="t",
                                   deleted_at=due["deletion_receipts"] + SECOND)
    entry_due = DeletionLogEntry(table_name="uploads", public_id=hexid(), action="destroy", reason="t",
                                 deleted_at=due["deletion_log"])
    entry_kept = DeletionLogEntry(table_name="uploads", public_id=hexid(), action="destroy", reason="t",
                                  deleted_at=due["deletion_log"] + SECOND)
    db.session.add_all([receipt_due, receipt_kept, entry_due, entry_kept])
    db.session.commit()
    seeded = dict(locals())
    ids = {name: obj.id for name, obj in seeded.items() if hasattr(obj, "id") and not isinstance(obj, User)}
    objects_of = {"due": (result_due.original_object_id, result_due.preview_object_id,
                          result_of_job_due.original_object_id, result_of_job_due.preview_object_id),
                  "kept": (result_kept.original_object_id, result_kept.preview_object_id)}
    result_due_public = result_due.public_id
    db.session.expunge_all()

    counts = retention.run_retention(now=now)

    assert {k: v for k, v in counts.items() if k != "exports"} == {
        "results": 2, "generation_jobs": 1, "deleted_uploads": 1, "operation_logs": 1, "login_sessions": 2,
        "sms_codes": 1, "orders_without_user": 1, "orders": 1, "support_tickets": 0, "deletion_receipts": 1,
        "deletion_log": 1}  # support tickets: tests/support/test_retention.py
    assert counts.get("exports", 0) == 0
    assert all(gone(obj) for obj in objects_of["due"])
    assert all(alive(obj) for obj in objects_of["kept"])
    assert db.session.get(GenerationResult, ids["result_due"]).deleted_at >= now
    assert db.session.get(GenerationResult, ids["result_kept"]).deleted_at is None
    assert db.session.scalar(select(DeletionReceipt).where(DeletionReceipt.subject_id == result_due_public)
                             ).reason == "retention_expired"
    assert db.session.get(GenerationJob, ids["job_due"]) is None
    assert db.session.get(GenerationResult, ids["result_of_job_due"]) is None  # went with its job
    for kept in ("job_short", "job_live_result", "job_running", "job_r"):
        assert db.session.get(GenerationJob, ids[kept]) is not None, kept
    assert db.session.get(Upload, ids["upload_due"]) is None and db.session.get(Upload, ids["upload_kept"])
    assert db.session.get(OperationLog, ids["log_due"]) is None and db.session.get(OperationLog, ids["log_kept"])
    for name in ("expired_due", "revoked_due"):
        assert db.session.get(LoginSession, ids[name]) is None, name
    for name in ("expired_kept", "revoked_kept", "live"):
        assert db.session.get(LoginSession, ids[name]) is not None, name
    assert db.session.get(SmsCode, ids["sms_due"]) is None and db.session.get(SmsCode, ids["sms_kept"])
    assert db.session.get(Order, ids["order_due"]) is None
    assert count(OrderEvent, OrderEvent.order_id == ids["order_due"]) == 0
    assert db.session.get(Order, ids["order_kept"]) and db.session.get(Order, ids["order_refunding"])
    orphan = db.session.get(Order, ids["orphan"])
    assert orphan.payer_openid_hash is None and orphan.prepay_id is None and orphan.amount_fen == 990
    assert db.session.get(Order, ids["order_kept"]).payer_openid_hash is not None  # has a user: untouched
    assert db.session.get(DeletionReceipt, ids["receipt_due"]) is None
    assert db.session.get(DeletionReceipt, ids["receipt_kept"]) is not None
    assert db.session.get(DeletionLogEntry, ids["entry_due"]) is None
    assert db.session.get(DeletionLogEntry, ids["entry_kept"]) is not None

    # Every deletion is in the deletion log, as ids (the log's own pruning is not).
    logged = {(e.table_name, e.action) for e in db.session.scalars(
        select(DeletionLogEntry).where(DeletionLogEntry.reason == "retention_expired"))}
    assert logged == {("generation_results", "destroy"), ("generation_jobs", "delete"), ("uploads", "delete"),
                      ("operation_logs", "delete"), ("login_sessions", "delete"), ("sms_codes", "delete"),
                      ("orders", "anonymise"), ("orders", "delete"), ("deletion_receipts", "delete")}
    result_entries = db.session.scalars(select(DeletionLogEntry).where(
        DeletionLogEntry.table_name == "generation_results", DeletionLogEntry.public_id == result_due_public)).all()
    assert {e.object_id for e in result_entries} == set(objects_of["due"][:2])
    assert all(e.object_key.startswith("result_") for e in result_entries)

    # A second run finds nothing: the sweep is idempotent.
    again = retention.run_retention(now=now)
    assert set(again.values()) == {0}


def test_commits_once_per_batch(app_ctx, now):
    user = make_user()
    for _ in range(10):
        op_log(user, now - 200 * DAY)
    op_log(user, now - DAY)
    db.session.commit()
    commits = []

    def count_commit(session):
        commits.append(session)

    event.listen(Session, "after_commit", count_commit)
    try:
        counts = retention.run_retention(now=now, batch_size=3, classes=["operation_logs"])
    finally:
        event.remove(Session, "after_commit", count_commit)
    assert counts == {"operation_logs": 10}
    assert len(commits) == 4  # 3 + 3 + 3 + 1
    assert count(OperationLog) == 1
    assert count(DeletionLogEntry, DeletionLogEntry.table_name == "operation_logs") == 10


def test_a_row_changed_after_being_selected_is_left_alone(app_ctx, now, monkeypatch):
    """Safe while the app runs: the delete re-checks the due condition on the ids it selected."""
    user = make_user()
    session_row = make_session(user, expires_at=now - 40 * DAY, revoked_at=now - 40 * DAY)
    db.session.commit()
    table = db.metadata.tables["login_sessions"]
    where = retention.CLASSES["login_sessions"].due(now - 30 * DAY)
    selected = list(retention.batches(table, where, 10))
    assert selected == [retention.Batch(session_row.id, session_row.id, 1)]
    session_row.expires_at, session_row.revoked_at = now + DAY, None  # changed by the app meanwhile
    db.session.commit()
    monkeypatch.setattr(retention, "batches", lambda *args, **kwargs: iter(selected))
    assert retention.delete_in_batches(table, where, 10, "t") == 0
    assert db.session.get(LoginSession, session_row.id) is not None
    assert count(DeletionLogEntry) == 0  # nothing deleted, nothing logged


def test_periods_come_from_the_environment_and_actions_are_checked(app, monkeypatch):
    monkeypatch.setenv("RETENTION_OPERATION_LOGS_DAYS", "30")
    config = load_config("testing").as_dict()
    assert config["RETENTION"]["operation_logs"] == {"days": 30, "action": "delete"}
    assert config["RETENTION"]["results"] == {"days": 90, "action": "delete"}
    assert config["RETENTION_SWEEP_INTERVAL_S"] == 86400
    with app.app_context():
        saved = app.config["RETENTION"]
        app.config["RETENTION"] = {**saved, "orders": {"days": 1095, "action": "anonymise"}}
        try:
            with pytest.raises(RuntimeError, match="orders"):
                retention.run_retention(classes=["orders"])
        finally:
            app.config["RETENTION"] = saved


def test_the_sweep_is_a_daily_maintenance_job(app):
    job = next(job for job in PERIODIC_JOBS if job.id == "privacy.retention")
    assert job.task.queue == "maintenance"
    assert job.task.path == "app.privacy.retention_tasks.run_retention_sweep"
    assert app.config[job.interval_setting] == 24 * 3600


def test_cli_dry_run_shows_the_table_and_changes_nothing(app, app_ctx, now):
    user = make_user()
    op_log(user, now - 200 * DAY)
    db.session.commit()
    runner = app.test_cli_runner()
    out = runner.invoke(args=["privacy", "retention", "--dry-run"])
    assert out.exit_code == 0, out.output
    assert "operation_logs" in out.output and "180 days" in out.output and "due=1" in out.output
    assert "unclaimed_uploads" in out.output and "uploads.sweep" in out.output
    assert count(OperationLog) == 1
    out = runner.invoke(args=["privacy", "retention", "--only", "operation_logs", "--batch-size", "5"])
    assert out.exit_code == 0, out.output
    assert "operation_logs=1" in out.output
    assert count(OperationLog) == 0
