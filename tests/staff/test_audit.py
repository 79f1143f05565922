"""The audit log: hash chain, tamper detection (API, function, CLI), search, append-only, concurrency."""

from __future__ import annotations

import itertools
import threading
from datetime import timedelta

import pytest
from sqlalchemy import delete, select, text, update

from app.core.db import utcnow
from app.extensions import db
from app.staff import audit
from app.staff.models import AuditEntry, AuditLogIsAppendOnly
from tests.staff.helpers import StaffClient, create_staff, json_of


def record_some(app, count: int, action: str = "user.view") -> None:
    with app.app_context():
        try:
            for number in range(count):
                audit.record(action, "user", f"u{number}", reason="ticket 7", details={"n": number, "名": "值"})
            db.session.commit()
        finally:
            db.session.remove()


def chain_status(app) -> audit.ChainStatus:
    with app.app_context():
        try:
            return audit.verify_chain(batch=2)  # small batches: the walk crosses page boundaries
        finally:
            db.session.remove()


def test_entries_form_a_gap_free_hash_chain(app, dbx):
    record_some(app, 5)
    entries = dbx.run(lambda s: [(e.id, e.prev_hash, e.hash, audit.entry_hash(e)) for e in
                                 s.scalars(select(AuditEntry).order_by(AuditEntry.id))])
    assert [entry[0] for entry in entries] == [1, 2, 3, 4, 5]
    assert entries[0][1] == audit.GENESIS_HASH
    for previous, current in itertools.pairwise(entries):
        assert current[1] == previous[2]
    assert all(stored == computed for _, _, stored, computed in entries)
    status = chain_status(app)
    assert status.ok and status.checked == 5 and status.last_id == 5
    first = dbx.one(select(AuditEntry).where(AuditEntry.id == 1))
    assert first.staff_username.startswith("cli") and first.details == {"n": 0, "名": "值"}


def test_an_empty_log_verifies(app):
    status = chain_status(app)
    assert status.ok and status.checked == 0 and status.last_id is None


def test_a_row_altered_in_the_database_is_detected(app, dbx):
    record_some(app, 5)
    dbx.execute(text("UPDATE staff_audit_log SET reason = 'nothing to see' WHERE id = 3"))
    status = chain_status(app)
    assert not status.ok and status.first_broken_id == 3 and status.checked == 2
    assert "hash" in status.problem

    runner = app.test_cli_runner()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert "BROKEN at entry 3" in result.output

    create_staff(app, "aud", ["auditor"])
    auditor = StaffClient.login(app, "aud")
    data = json_of(auditor.get("/admin/api/audit/verify"))["data"]
    assert data["ok"] is False and data["first_broken_id"] == 3


def test_an_altered_row_with_a_recomputed_hash_breaks_the_next_link(app, dbx):
    record_some(app, 4)

    def forge(session):
        entry = session.get(AuditEntry, 2)
        fields = {"target_id": "someone-else"}
        forged = AuditEntry(**{c.key: getattr(entry, c.key) for c in AuditEntry.__table__.columns})
        forged.target_id = fields["target_id"]
        new_hash = audit.entry_hash(forged)
        session.execute(text("UPDATE staff_audit_log SET target_id = :t, hash = :h WHERE id = 2"),
                        {"t": fields["target_id"], "h": new_hash})
        session.commit()

    dbx.run(forge)
    status = chain_status(app)
    assert not status.ok and status.first_broken_id == 3 and "prev_hash" in status.problem


def test_a_deleted_row_is_detected(app, dbx):
    record_some(app, 4)
    dbx.execute(text("DELETE FROM staff_audit_log WHERE id = 2"))
    status = chain_status(app)
    assert not status.ok and status.first_broken_id == 3 and "missing" in status.problem
    assert app.test_cli_runner().invoke(args=["audit", "verify"]).exit_code == 1


def test_the_cli_reports_an_intact_chain(app):
    record_some(app, 3)
    result = app.test_cli_runner().invoke(args=["audit", "verify", "--batch", "2"])
    assert result.exit_code == 0 and "audit chain ok: 3 entries" in result.output


def test_the_orm_refuses_to_change_or_delete_entries(app_ctx):
    entry = audit.record("user.view", "user", "u1")
    db.session.commit()
    entry.reason = "rewritten"
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.commit()
    db.session.rollback()
    db.session.delete(db.session.get(AuditEntry, entry.id))
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.commit()
    db.session.rollback()
    assert db.session.get(AuditEntry, entry.id).reason is None


def test_no_staff_endpoint_edits_or_deletes_the_log(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/admin/api/audit"):
            assert rule.methods - {"GET", "HEAD", "OPTIONS"} == set(), rule


def test_a_rolled_back_action_leaves_no_entry(app_ctx):
    audit.record("order.refund", "order", "o1")
    db.session.rollback()
    assert db.session.scalar(select(AuditEntry)) is None


def test_search_filters_paginates_and_is_itself_logged(app, dbx):
    create_staff(app, "aud", ["auditor"])
    record_some(app, 3, action="user.view")
    record_some(app, 2, action="user.unmask")
    auditor = StaffClient.login(app, "aud")

    def search(**params):
        response = auditor.get("/admin/api/audit", query_string=params)
        assert response.status_code == 200, json_of(response)
        return json_of(response)["data"]

    page = search(action="user.view", limit=2)
    assert [e["action"] for e in page["entries"]] == ["user.view", "user.view"]
    assert page["entries"][0]["id"] > page["entries"][1]["id"]  # newest first
    rest = search(action="user.view", limit=2, cursor=page["next_cursor"])
    assert len(rest["entries"]) == 1 and rest["next_cursor"] is None
    prefix = search(action="user.")
    assert {e["action"] for e in prefix["entries"]} == {"user.view", "user.unmask"}
    assert len(prefix["entries"]) == 5
    by_target = search(target_type="user", target_id="u1")
    assert {e["action"] for e in by_target["entries"]} == {"user.view", "user.unmask"}
    by_staff = search(staff="aud")
    assert by_staff["entries"] and all(e["staff_username"] == "aud" for e in by_staff["entries"])
    future = (utcnow() + timedelta(hours=1)).isoformat()
    assert search(since=future)["entries"] == []
    assert len(search(until=future, action="user.unmask")["entries"]) == 2
    bad = auditor.get("/admin/api/audit", query_string={"limit": 0})
    assert bad.status_code == 422 and json_of(bad)["error"]["code"] == "validation_error"
    searches = dbx.run(lambda s: [e.details for e in s.scalars(
        select(AuditEntry).where(AuditEntry.action == "audit.search").order_by(AuditEntry.id))])
    assert len(searches) == 7
    assert searches[0] == {"filters": {"action": "user.view", "limit": 2}, "returned": 2}
    assert chain_status(app).ok


def test_audit_entries_name_request_ip_and_roles(app, dbx):
    create_staff(app, "aud", ["auditor"])
    auditor = StaffClient.login(app, "aud")
    response = auditor.get("/admin/api/audit", headers={"X-Request-ID": "req-for-audit-1"})
    assert response.status_code == 200
    entry = dbx.one(select(AuditEntry).where(AuditEntry.action == "audit.search"))
    assert entry.request_id == "req-for-audit-1" and entry.ip == "127.0.0.1" and entry.roles == "auditor"
    assert entry.staff_id is not None


@pytest.mark.postgres
def test_concurrent_appends_never_fork_the_chain(app, dbx):
    threads, per_thread = 8, 6
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def worker(number: int) -> None:
        try:
            with app.app_context():
                barrier.wait()
                for step in range(per_thread):
                    audit.record("user.view", "user", f"t{number}-{step}")
                    db.session.commit()
                db.session.remove()
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=60)
    assert not errors, errors
    assert dbx.count(AuditEntry) == threads * per_thread
    status = chain_status(app)
    assert status.ok and status.checked == threads * per_thread


@pytest.mark.postgres
def test_the_lock_makes_a_second_writer_wait_for_the_first(app, dbx):
    """Without the advisory lock the second transaction would read the same chain end and fail."""
    first_recorded, release_first = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def first() -> None:
        with app.app_context():
            audit.record("user.view", "user", "first")
            first_recorded.set()
            release_first.wait(10)
            db.session.commit()
            db.session.remove()

    def second() -> None:
        with app.app_context():
            first_recorded.wait(10)
            try:
                outcome["id"] = audit.record("user.view", "user", "second").id
                db.session.commit()
            except BaseException as exc:
                outcome["error"] = exc
            db.session.remove()

    t1, t2 = threading.Thread(target=first), threading.Thread(target=second)
    t1.start()
    t2.start()
    first_recorded.wait(10)
    t2.join(timeout=1)
    assert t2.is_alive()  # blocked on the lock while the first transaction is open
    release_first.set()
    t1.join(10)
    t2.join(10)
    assert "error" not in outcome and outcome["id"] == 2
    assert chain_status(app).ok


def test_details_never_need_personal_data(app, dbx):
    """The staff-core's own entries carry no password, token or secret."""
    create_staff(app, "ada", ["admin"])
    admin = StaffClient.login(app, "ada")
    admin.post("/admin/api/staff", json={"username": "finn", "roles": ["finance"], "password": "a long enough one"})
    admin.post("/admin/api/session/totp")
    dumped = dbx.run(lambda s: " ".join(str((e.details, e.reason, e.target_id)) for e in s.scalars(select(AuditEntry))))
    assert "a long enough one" not in dumped and "correct horse" not in dumped and "mhs_" not in dumped
    assert admin.csrf not in dumped


def test_deleting_a_staff_account_keeps_the_chain_valid(app, dbx):
    """``staff_id`` is SET NULL when an account row goes (it is not hashed); the snapshot name stays."""
    from app.staff.models import StaffAccount

    create_staff(app, "sam", ["support"])
    StaffClient.login(app, "sam")
    dbx.execute(delete(StaffAccount))
    entry = dbx.one(select(AuditEntry).where(AuditEntry.action == "staff.login"))
    assert entry.staff_id is None and entry.staff_username == "sam"
    assert chain_status(app).ok
    dbx.execute(update(AuditEntry).where(AuditEntry.id == 1).values(staff_username="mallory"))
    assert chain_status(app).first_broken_id == 1
