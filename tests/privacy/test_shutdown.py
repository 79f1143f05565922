"""Service shutdown (policy §5): every piece of personal data is deleted or anonymised; orders stay pseudonymised."""

from __future__ import annotations

from sqlalchemy import String, func, select

from app.accounts.models import Device, RiskFlag, SmsCode, WechatIdentity
from app.consent.models import AgeDeclaration, ConsentRecord, GuardianConsent, PolicyVersion
from app.core.db import utcnow
from app.core.objects import StoredObject
from app.core.storage import object_store
from app.extensions import db
from app.orders.models import Entitlement, Order, OrderEvent
from app.privacy import shutdown
from app.privacy.deletion_log import DeletionLogEntry
from app.privacy.models import DeletionReceipt
from tests.privacy.test_deletion_log import restore, take_backup
from tests.privacy.test_retention import (
    DAY,
    count,
    hexid,
    make_job,
    make_order,
    make_result,
    make_session,
    make_upload,
    make_user,
    op_log,
)


def seed_people() -> set[str]:
    """Two people with data in every domain; returns the identifying values a scan must not find."""
    now = utcnow()
    version = db.session.scalar(select(PolicyVersion.id))
    secrets: set[str] = set()
    for nickname in ("Alice", "小红"):
        phone_hash, openid_hash, device_hash = hexid() * 2, hexid() * 2, hexid() * 2
        guardian_hash = hexid() * 2
        user = make_user(nickname, phone_hash=phone_hash)
        secrets |= {nickname, phone_hash, openid_hash, device_hash, guardian_hash, user.public_id}
        db.session.add(WechatIdentity(user_id=user.id, appid="wx1", openid_hash=openid_hash,
                                      openid_ciphertext=b"sealed"))
        device = Device(user_id=user.id, device_hash=device_hash, model="iPhone")
        db.session.add(device)
        db.session.flush()
        make_session(user, expires_at=now + DAY).device_id = device.id
        guardian = GuardianConsent(user_id=user.id, guardian_phone_hash=guardian_hash,
                                   guardian_phone_masked="139****0000", relation="parent",
                                   purposes=["face_processing"], policy_version_id=version)
        db.session.add(guardian)
        db.session.flush()
        db.session.add_all([
            ConsentRecord(user_id=user.id, purpose="face_processing", action="given", policy_version_id=version,
                          channel="miniprogram", guardian_consent_id=guardian.id),
            AgeDeclaration(user_id=user.id, birth_year=2015),
            SmsCode(phone_hash=phone_hash, purpose="login", code_hash=hexid(), expires_at=now + DAY),
            RiskFlag(kind="device_accounts", subject_hash=device_hash, account_count=4),
            DeletionReceipt(user_id=user.id, data_kind="portrait_upload", subject_id=hexid(), reason="t"),
        ])
        make_upload(user)
        job = make_job(user, finished_at=now - DAY)
        make_result(job)
        order = make_order(user, created_at=now - DAY, payer=openid_hash)
        db.session.add(Entitlement(user_id=user.id, order_id=order.id, kind="hd_job", subject_id=job.public_id))
        op_log(user, now - DAY)
    db.session.commit()
    return secrets


def personal_data_left(secrets: set[str]) -> list[str]:
    """Every table: rows still naming a user, or any string column holding an identifying value."""
    found = []
    for table in db.metadata.sorted_tables:
        if table.name == "users":
            n = db.session.scalar(select(func.count()).select_from(table))
            if n:
                found.append(f"users x{n}")
        for column in table.c:
            if column.name == "user_id" or (column.foreign_keys and any(
                    fk.column.table.name == "users" for fk in column.foreign_keys)):
                n = db.session.scalar(select(func.count()).select_from(table).where(column.is_not(None)))
                if n:
                    found.append(f"{table.name}.{column.name} x{n}")
            if isinstance(column.type, String):
                n = db.session.scalar(select(func.count()).select_from(table).where(column.in_(secrets)))
                if n:
                    found.append(f"{table.name}.{column.name} x{n}")
    return found


def table_counts() -> dict[str, int]:
    return {t.name: db.session.scalar(select(func.count()).select_from(t)) for t in db.metadata.sorted_tables}


def live_files() -> int:
    store = object_store()
    return sum(store.exists(obj.storage_key) for obj in db.session.scalars(select(StoredObject)))


def test_dry_run_reports_per_table_and_changes_nothing(app, app_ctx):
    secrets = seed_people()
    before, files = table_counts(), live_files()
    assert files == 6  # 2 portraits + 2 × (original, preview)
    report = {(step["table"], step["action"]): step["rows"] for step in shutdown.dry_run()}
    assert report[("stored_objects", "destroy")] == 6
    assert report[("orders", "anonymise")] == 2
    assert report[("users", "delete")] == 2
    assert report[("deletion_receipts", "anonymise")] == 2
    for table in ("wechat_identities", "devices", "login_sessions", "consent_records", "guardian_consents",
                  "age_declarations", "uploads", "generation_jobs", "generation_results", "operation_logs",
                  "entitlements", "sms_codes", "risk_flags"):
        assert report[(table, "delete")] == 2, table
    db.session.remove()

    out = app.test_cli_runner().invoke(args=["privacy", "shutdown", "--dry-run"])
    assert out.exit_code == 0, out.output
    assert "would destroy   stored_objects" in out.output and "would anonymise orders" in out.output
    assert "would delete    users" in out.output
    assert table_counts() == before and live_files() == files
    assert len(personal_data_left(secrets)) > 10


def test_refuses_without_the_service_name(app, app_ctx):
    seed_people()
    before = table_counts()
    db.session.remove()
    runner = app.test_cli_runner()
    for args in ([], ["--confirm", "someone-else"]):
        out = runner.invoke(args=["privacy", "shutdown", *args])
        assert out.exit_code == 2, out.output
        assert "--confirm miaohua" in out.output
    assert table_counts() == before


def test_shutdown_leaves_no_personal_data_and_keeps_orders_pseudonymised(app, app_ctx):
    secrets = seed_people()
    order_rows = count(Order)
    backup = take_backup()
    since = utcnow()
    db.session.remove()

    out = app.test_cli_runner().invoke(args=["privacy", "shutdown", "--confirm", "miaohua", "--batch-size", "3"])
    assert out.exit_code == 0, out.output
    assert "did delete    users                            2" in out.output

    assert personal_data_left(secrets) == []
    assert live_files() == 0
    assert count(StoredObject, StoredObject.wrapped_key.is_not(None)) == 0
    assert count(Order) == order_rows and count(OrderEvent) == order_rows
    assert count(Order, Order.payer_openid_hash.is_not(None)) == 0 and count(Order, Order.prepay_id.is_not(None)) == 0
    assert db.session.scalar(select(func.sum(Order.amount_fen))) == 990 * order_rows  # the books still add up
    assert count(DeletionReceipt) == 2  # kept as proof, without a user
    assert count(Entitlement) == 0
    assert count(DeletionLogEntry, DeletionLogEntry.reason == "service_shutdown") > 20

    # A backup restored afterwards is cleaned by replaying the log (the shutdown's entries included).
    restore(backup, with_log=False)
    assert personal_data_left(secrets)
    db.session.remove()
    out = app.test_cli_runner().invoke(args=["privacy", "replay-deletions", "--since", since.isoformat()])
    assert out.exit_code == 0, out.output
    assert personal_data_left(secrets) == []
    assert live_files() == 0
    assert count(Order) == order_rows
