"""§7 periodic access review: the list of every staff account (roles, last use), a recorded review, the metric."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update

from app.core.db import utcnow
from app.staff.models import AccessReview, AuditEntry, StaffAccount
from tests.monitoring.helpers import samples, scrape_text, value
from tests.staff.helpers import StaffClient, create_staff, json_of


def test_an_auditor_lists_every_account_and_records_a_review(app, dbx):
    create_staff(app, "aud", ["auditor"])
    create_staff(app, "sam", ["support", "finance"])
    create_staff(app, "old", ["support"])
    dbx.execute(update(StaffAccount).where(StaffAccount.username == "old").values(disabled_at=utcnow()))
    StaffClient.login(app, "sam")
    auditor = StaffClient.login(app, "aud")

    status = json_of(auditor.get("/admin/api/access-review"))["data"]
    accounts = {row["username"]: row for row in status["staff"]}
    assert sorted(accounts) == ["aud", "old", "sam"]
    assert accounts["sam"]["roles"] == ["finance", "support"] and accounts["sam"]["last_used_at"]
    assert accounts["old"]["disabled"] is True and accounts["old"]["last_used_at"] is None
    assert status["last_review"] is None and status["overdue"] is True and status["period_days"] == 90

    recorded = auditor.post("/admin/api/access-review", json={"changes": "removed finance from sam (left team)"})
    assert recorded.status_code == 201, json_of(recorded)
    review = json_of(recorded)["data"]
    assert review["reviewer"] == "aud" and review["accounts_reviewed"] == 3

    status = json_of(auditor.get("/admin/api/access-review"))["data"]
    assert status["last_review"]["id"] == review["id"] and status["overdue"] is False
    due = datetime.fromisoformat(status["due_at"]) - datetime.fromisoformat(status["last_review"]["reviewed_at"])
    assert due == timedelta(days=90)
    assert [r["changes"] for r in status["reviews"]] == ["removed finance from sam (left team)"]
    stored = dbx.one(select(AccessReview))
    assert {a["username"]: a["roles"] for a in stored.accounts}["sam"] == ["finance", "support"]  # as seen
    entry = dbx.one(select(AuditEntry).where(AuditEntry.action == "staff.access_review"))
    assert entry.staff_username == "aud" and entry.target_id == str(review["id"])
    assert entry.details["changes"] == "removed finance from sam (left team)"
    assert dbx.count(AuditEntry, AuditEntry.action == "staff.access_review_view") == 2


def test_a_review_needs_a_statement_of_what_changed(app):
    create_staff(app, "aud", ["auditor"])
    auditor = StaffClient.login(app, "aud")
    for body in ({}, {"changes": ""}, {"changes": "   "}, {"changes": "x" * 2001}, {"changes": "ok", "extra": 1}):
        response = auditor.post("/admin/api/access-review", json=body)
        assert response.status_code == 422, (body, json_of(response))


def test_only_roles_granting_access_review_may_review(app):
    create_staff(app, "ada", ["admin"])
    create_staff(app, "sam", ["support"])
    for name in ("ada", "sam"):
        client = StaffClient.login(app, name)
        assert client.get("/admin/api/access-review").status_code == 403
        assert client.post("/admin/api/access-review", json={"changes": "no changes"}).status_code == 403


def test_the_review_age_metric_and_its_period(app, client, dbx):
    create_staff(app, "aud", ["auditor"])
    dbx.execute(update(StaffAccount).values(created_at=utcnow() - timedelta(days=120)))
    page = samples(scrape_text(client, app))
    assert value(page, "miaohua_staff_access_review_period_seconds") == 90 * 86400
    assert value(page, "miaohua_staff_access_review_age_seconds") >= 119 * 86400  # never reviewed
    auditor = StaffClient.login(app, "aud")
    assert auditor.post("/admin/api/access-review", json={"changes": "no changes"}).status_code == 201
    page = samples(scrape_text(client, app))
    assert value(page, "miaohua_staff_access_review_age_seconds") < 60
