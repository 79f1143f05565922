"""The privacy officer's queue: requests received by email/phone/ticket, due in 15 working days, executed
by the same code as the in-app path (deletion receipts included), or rejected with a reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from app.accounts.models import User
from app.core.chinatime import BEIJING, add_working_days, beijing_date, is_working_day
from app.core.db import utcnow
from app.generation.models import GenerationResult
from app.orders.models import Order
from app.privacy.models import DeletionReceipt, DeletionRequest
from tests.admin.conftest import audit_entries, error_code
from tests.privacy.test_rights import seed_everything

QUEUE = "/admin/api/rights-requests"


def queue(officer, user_id: str, kind: str = "deletion", categories=("results",), channel="email", **extra):
    body = {"user_public_id": user_id, "kind": kind, "categories": list(categories), "channel": channel, **extra}
    return officer.post(QUEUE, json=body)


@pytest.fixture
def user_id(uploader, dbx) -> str:
    return dbx.one(select(User)).public_id


def test_a_queued_request_is_due_in_15_working_days(user_id, staff, app, dbx):
    officer = staff("privacy_officer")
    response = queue(officer, user_id, note="Email from the bound address; identity confirmed by SMS")
    assert response.status_code == 201, response.get_json()
    data = response.get_json()["data"]
    created, due = datetime.fromisoformat(data["created_at"]), datetime.fromisoformat(data["due_at"])
    assert due == add_working_days(created, 15)  # China's calendar, Beijing dates (tests/core/test_chinatime.py)
    assert due.astimezone(BEIJING).time().replace(microsecond=0).isoformat() == "23:59:59"  # all that Beijing day
    assert 18 <= (due - created).days <= 30  # three weeks of working days, more across a holiday
    assert data["status"] == "pending" and data["overdue"] is False and data["days_left"] == 15
    assert data["user_id"] == user_id and data["categories"] == ["results"] and data["channel"] == "email"
    assert data["note"] == "Email from the bound address; identity confirmed by SMS"
    stored = dbx.one(select(DeletionRequest))
    assert b"identity confirmed" not in stored.note_ciphertext and stored.kind == "deletion"
    [entry] = audit_entries(dbx, "rights.queue")
    assert entry.target_id == data["id"] and "identity" not in str(entry.details)

    # A holiday declared in the settings (a correction to the package) moves the due date by one working day.
    today = beijing_date(created)
    first_workday = next(d for d in (today + timedelta(days=n) for n in range(1, 15)) if is_working_day(d))
    app.config["PUBLIC_HOLIDAYS"] = first_workday.isoformat()
    try:
        later = queue(officer, user_id, categories=["devices"], channel="phone").get_json()["data"]
    finally:
        app.config["PUBLIC_HOLIDAYS"] = ""
    later_due = beijing_date(datetime.fromisoformat(later["due_at"]))
    assert later_due > beijing_date(due) or beijing_date(datetime.fromisoformat(later["created_at"])) != today


def test_the_queue_is_sorted_by_due_date_and_flags_overdue_requests(user_id, staff, dbx):
    officer = staff("privacy_officer")
    deletion = queue(officer, user_id).get_json()["data"]["id"]
    cancellation = queue(officer, user_id, kind="cancellation", categories=[], channel="phone").get_json()["data"]["id"]
    week_ago = utcnow() - timedelta(days=7)
    dbx.execute(update(DeletionRequest).where(DeletionRequest.public_id == cancellation).values(due_at=week_ago))
    listed = officer.get(QUEUE).get_json()["data"]["requests"]
    assert [r["id"] for r in listed] == [cancellation, deletion]
    assert listed[0]["overdue"] is True and listed[0]["days_left"] == -5  # any 7 days hold 5 working days
    assert listed[0]["categories"] == ["account"] and listed[1]["overdue"] is False
    overdue = officer.get(QUEUE, query_string={"overdue": "1"}).get_json()["data"]["requests"]
    assert [r["id"] for r in overdue] == [cancellation]
    assert officer.get(QUEUE, query_string={"status": "completed"}).get_json()["data"]["requests"] == []
    assert officer.get(QUEUE, query_string={"status": "lost"}).status_code == 422
    dashboard = officer.get("/admin/api/dashboard").get_json()["data"]
    assert dashboard["rights_requests"] == {"pending": 2, "overdue": 1}


def test_processing_a_deletion_deletes_the_data_with_receipts(uploader, sample_jpeg, app, wechat_sandbox, staff,
                                                             dbx):
    ids = seed_everything(uploader, sample_jpeg, app, wechat_sandbox)
    user_id = dbx.one(select(User)).public_id
    officer = staff("privacy_officer")
    request_id = queue(officer, user_id, categories=["results", "operation_logs"]).get_json()["data"]["id"]
    assert dbx.count(GenerationResult, GenerationResult.deleted_at.is_(None)) == 1
    done = officer.post(f"{QUEUE}/{request_id}/process")
    assert done.status_code == 200, done.get_json()
    data = done.get_json()["data"]
    assert data["status"] == "completed" and data["completed_at"] and data["days_left"] is None
    assert dbx.count(GenerationResult, GenerationResult.deleted_at.is_(None)) == 0
    assert dbx.count(DeletionReceipt, DeletionReceipt.data_kind == "result_image",
                     DeletionReceipt.reason == "user_request:results") == 1
    assert dbx.count(DeletionReceipt, DeletionReceipt.data_kind == "operation_logs") == 1
    assert uploader.get(f"/api/v1/jobs/{ids['job']}").get_json()["data"]["results"] == []
    mine = uploader.get("/api/v1/me/deletion-requests").get_json()["data"]["requests"]
    assert [(r["id"], r["status"]) for r in mine] == [(request_id, "completed")]
    [entry] = audit_entries(dbx, "rights.process")
    assert entry.target_id == request_id and entry.details["user"] == user_id
    again = officer.post(f"{QUEUE}/{request_id}/process")
    assert again.status_code == 409 and error_code(again) == "rights_request_not_pending"
    assert len(audit_entries(dbx, "rights.process")) == 1


def test_processing_a_cancellation_deletes_the_account(uploader, sample_jpeg, app, wechat_sandbox, staff, dbx):
    ids = seed_everything(uploader, sample_jpeg, app, wechat_sandbox)
    user_id = dbx.one(select(User)).public_id
    officer = staff("privacy_officer")
    request_id = queue(officer, user_id, kind="cancellation", categories=[], channel="phone").get_json()["data"]["id"]
    done = officer.post(f"{QUEUE}/{request_id}/process")
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["data"]["status"] == "completed" and done.get_json()["data"]["user_id"] is None
    assert dbx.count(User) == 0
    assert uploader.get("/api/v1/me").status_code == 401
    order = dbx.one(select(Order).where(Order.out_trade_no == ids["order"]))
    assert order.user_id is None and order.payer_openid_hash is None  # kept by law, pseudonymised
    assert dbx.count(DeletionReceipt, DeletionReceipt.data_kind == "account", DeletionReceipt.subject_id == user_id,
                     DeletionReceipt.reason == "account_cancelled:support_request") == 1
    assert dbx.one(select(DeletionRequest)).handled_by_staff_id is not None
    [entry] = audit_entries(dbx, "rights.process")
    assert entry.details == {"user": user_id, "kind": "cancellation", "categories": "account"}


def test_rejecting_needs_a_reason_and_answers_the_request(user_id, staff, dbx):
    officer = staff("privacy_officer")
    request_id = queue(officer, user_id).get_json()["data"]["id"]
    assert officer.post(f"{QUEUE}/{request_id}/reject", json={}).status_code == 422
    rejected = officer.post(f"{QUEUE}/{request_id}/reject", json={"reason": "identity not verified"})
    assert rejected.status_code == 200
    data = rejected.get_json()["data"]
    assert data["status"] == "rejected" and data["rejected_reason"] == "identity not verified" and data["completed_at"]
    assert [e.reason for e in audit_entries(dbx, "rights.reject")] == ["identity not verified"]
    late = officer.post(f"{QUEUE}/{request_id}/process")
    assert late.status_code == 409 and error_code(late) == "rights_request_not_pending"
    listed = officer.get(QUEUE, query_string={"status": "rejected"}).get_json()["data"]["requests"]
    assert [r["id"] for r in listed] == [request_id] and listed[0]["overdue"] is False
    assert officer.post(f"{QUEUE}/{'0' * 32}/process").status_code == 404


def test_bad_requests_are_refused_with_codes(uploader, user_id, staff, dbx):
    officer = staff("privacy_officer")
    cases = [
        (queue(officer, user_id, kind="cancellation", categories=["results"]), 422, "validation_error"),
        (queue(officer, user_id, categories=[]), 422, "validation_error"),
        (queue(officer, user_id, categories=["everything"]), 422, "validation_error"),
        (queue(officer, user_id, channel="ticket"), 422, "validation_error"),
        (queue(officer, user_id, channel="carrier_pigeon"), 422, "validation_error"),
        (queue(officer, "f" * 32), 404, "user_not_found"),
        (queue(officer, user_id, channel="ticket", ticket_id="0" * 32), 404, "ticket_not_found"),
    ]
    for response, status, code in cases:
        assert response.status_code == status and error_code(response) == code, response.get_json()
    assert dbx.count(DeletionRequest) == 0
    ticket = uploader.call("POST", "/api/v1/tickets", json={"category": "privacy", "subject": "delete my photos",
                                                             "body": "please delete all my results"})
    assert ticket.status_code == 201, ticket.get_json()
    ticket_id = ticket.get_json()["data"]["id"]
    made = queue(officer, user_id, channel="ticket", ticket_id=ticket_id)
    assert made.status_code == 201 and made.get_json()["data"]["ticket_id"] == ticket_id
    duplicate = queue(officer, user_id, channel="email")
    assert duplicate.status_code == 409 and error_code(duplicate) == "rights_request_already_pending"


def test_only_the_privacy_officer_handles_the_queue(user_id, staff, anonymous, dbx):
    request_id = queue(staff("privacy_officer"), user_id).get_json()["data"]["id"]
    for role in ("support", "finance", "auditor", "admin"):
        who = staff(role)
        for response in (who.get(QUEUE), queue(who, user_id, categories=["devices"]),
                         who.post(f"{QUEUE}/{request_id}/process"),
                         who.post(f"{QUEUE}/{request_id}/reject", json={"reason": "not mine to decide"})):
            assert response.status_code == 403 and error_code(response) == "permission_denied", role
    assert anonymous.get(QUEUE).status_code == 401
    assert anonymous.post(f"{QUEUE}/{request_id}/process").status_code == 401
    assert dbx.one(select(DeletionRequest)).status == "pending"


def test_working_days_left_counts_holidays_and_makeup_days(app_ctx):
    from app.privacy import rights

    # National Day 2026: 1-7 October off, Saturday 10 October a make-up working day (调休).
    monday = datetime(2026, 9, 28, 2, tzinfo=UTC)  # 10:00 in Beijing
    request = DeletionRequest(status="pending", due_at=datetime(2026, 10, 12, 15, 59, tzinfo=UTC))  # Monday 23:59
    assert rights.working_days_left(request, monday) == 6  # 29, 30 Sep; 8, 9, 10 (Saturday), 12 Oct
    assert rights.working_days_left(request, datetime(2026, 10, 12, 3, tzinfo=UTC)) == 0  # the due day itself
    assert rights.working_days_left(request, datetime(2026, 10, 13, 17, tzinfo=UTC)) == -2  # 14 Oct in Beijing
    app_ctx.config.update(PUBLIC_HOLIDAYS="2026-09-29")  # a correction declared in the settings
    try:
        assert rights.working_days_left(request, monday) == 5
    finally:
        app_ctx.config.update(PUBLIC_HOLIDAYS="")
