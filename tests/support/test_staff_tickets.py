"""Support tickets, the staff side: triage (masked), the audited thread, replies, statuses, assignment."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from app.staff import audit
from app.staff.models import AuditEntry
from app.staff.permissions import ROLE_PERMISSIONS, Permission
from app.support import staff_views
from app.support.models import Ticket, TicketMessage
from tests.staff.helpers import StaffClient, create_staff, json_of
from tests.support.conftest import TICKETS, open_ticket, seed_job, seed_order, user_id

ADMIN_TICKETS = "/admin/api/tickets"


@pytest.fixture
def support(app) -> StaffClient:
    create_staff(app, "sam", ["support"])
    return StaffClient.login(app, "sam")


def data(response, status: int = 200):
    body = json_of(response)
    assert response.status_code == status, body
    return body["data"]


def error(response, status: int) -> dict:
    body = json_of(response)
    assert response.status_code == status, body
    return body["error"]


def entries(dbx, action: str | None = None) -> list[AuditEntry]:
    stmt = select(AuditEntry).order_by(AuditEntry.id)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    return dbx.run(lambda s: [s.expunge(e) or e for e in s.scalars(stmt).all()])


def test_a_dispute_from_question_to_closing(app, alice, support, dbx):
    order_no = seed_order(dbx, user_id(dbx, alice), amount_fen=1990)
    ticket = open_ticket(alice, category="order_dispute", subject="扣款两次 13811112222",
                         body="我的手机号是 13811112222，订单扣了两次款。", order_no=order_no)

    # Triage: masked subject and phone, no bodies, the order with what finance needs to refund it.
    [row] = data(support.get(ADMIN_TICKETS))["tickets"]
    assert row["id"] == ticket["id"] and row["status"] == "open" and row["category"] == "order_dispute"
    assert row["subject"] == "扣******" and "13811112222" not in json.dumps(row)
    assert row["user"]["phone"] == "138****2222" and row["message_count"] == 1 and "messages" not in row
    assert row["order"] == {"order_no": order_no, "product": "hd_result", "amount_fen": 1990, "refunded_fen": 0,
                            "status": "fulfilled"}
    assert entries(dbx, "ticket.view") == []  # no thread was opened
    [listed] = entries(dbx, "ticket.list")  # but the list itself (masked phones, orders) is an audited read
    assert (listed.staff_username, listed.target_type, listed.target_id) == ("sam", "ticket", None)
    assert listed.details["tickets"] == [ticket["id"]] and listed.details["count"] == 1
    assert listed.request_id and "13811112222" not in json.dumps(listed.details)

    # Opening the thread is a read of personal data: audit-logged, without the content.
    thread = data(support.get(f"{ADMIN_TICKETS}/{ticket['id']}"))
    assert thread["subject"] == "扣款两次 13811112222"
    assert [(m["author"], m["staff"]) for m in thread["messages"]] == [("user", None)]
    [view] = entries(dbx, "ticket.view")
    assert (view.staff_username, view.roles, view.target_type, view.target_id) == ("sam", "support", "ticket",
                                                                                    ticket["id"])
    assert view.request_id and view.ip

    answer = data(support.post(f"{ADMIN_TICKETS}/{ticket['id']}/messages",
                               json={"body": "已核实，请财务退款。"}), 201)
    assert answer["status"] == "waiting_user"
    assert [(m["author"], m["staff"]) for m in answer["messages"]] == [("user", None), ("staff", "sam")]
    [reply_entry] = entries(dbx, "ticket.reply")
    assert reply_entry.details == {"from": "open", "to": "waiting_user"}

    # The user sees "new reply" in the list, without learning which staff member answered.
    listed = alice.get(TICKETS).get_json()["data"]["tickets"][0]
    assert listed["status"] == "waiting_user" and listed["has_unread_staff_reply"] is True
    seen = alice.get(f"{TICKETS}/{ticket['id']}").get_json()["data"]
    assert seen["messages"][1] == {"author": "staff", "body": "已核实，请财务退款。",
                                   "created_at": seen["messages"][1]["created_at"]}
    assert alice.get(TICKETS).get_json()["data"]["tickets"][0]["has_unread_staff_reply"] is False

    alice.call("POST", f"{TICKETS}/{ticket['id']}/messages", json={"body": "谢谢"})
    assert data(support.get(f"{ADMIN_TICKETS}/{ticket['id']}"))["status"] == "open"
    resolved = data(support.post(f"{ADMIN_TICKETS}/{ticket['id']}/status",
                                 json={"status": "resolved", "note": "refund requested from finance"}))
    assert resolved["status"] == "resolved" and resolved["resolved_at"]
    closed = data(support.post(f"{ADMIN_TICKETS}/{ticket['id']}/status", json={"status": "closed"}))
    assert closed["status"] == "closed" and closed["closed_at"] and closed["resolved_at"] is None
    status_entries = entries(dbx, "ticket.status")
    assert [(e.details, e.reason) for e in status_entries] == [
        ({"from": "open", "to": "resolved"}, "refund requested from finance"), ({"from": "resolved", "to": "closed"},
                                                                                None)]

    # Closed is final, for staff as for the user.
    assert error(support.post(f"{ADMIN_TICKETS}/{ticket['id']}/messages", json={"body": "再补充"}), 409)["code"] == \
        "ticket_transition_invalid"
    assert error(support.post(f"{ADMIN_TICKETS}/{ticket['id']}/status", json={"status": "open"}), 409)["code"] == \
        "ticket_transition_invalid"
    assert dbx.count(TicketMessage) == 3

    # No entry carries what the user wrote; the chain holds.
    logged = json.dumps([[e.details, e.reason, e.target_id] for e in entries(dbx)], ensure_ascii=False)
    assert "13811112222" not in logged and "扣款" not in logged and "谢谢" not in logged
    assert dbx.run(lambda s: audit.verify_chain()).ok


def test_staff_cannot_move_a_ticket_where_the_rules_do_not_allow(app, alice, support, dbx):
    ticket = open_ticket(alice)
    path = f"{ADMIN_TICKETS}/{ticket['id']}/status"
    same = error(support.post(path, json={"status": "open"}), 409)
    assert same["code"] == "ticket_transition_invalid" and same["details"]["from"] == "open"
    assert error(support.post(path, json={"status": "reopened"}), 422)["code"] == "validation_error"
    assert error(support.post(path, json={"status": "resolved", "note": "x" * 501}), 422)["code"] == \
        "validation_error"
    assert entries(dbx, "ticket.status") == []
    assert error(support.post(f"{ADMIN_TICKETS}/{'0' * 32}/status", json={"status": "closed"}), 404)["code"] == \
        "ticket_not_found"
    assert error(support.get(f"{ADMIN_TICKETS}/{'0' * 32}"), 404)["code"] == "ticket_not_found"
    assert entries(dbx, "ticket.view") == []


def test_list_filters_and_pages(app, alice, bob, support, dbx):
    create_staff(app, "tess", ["support"])
    tickets = [open_ticket(alice, category="account"), open_ticket(bob, category="privacy"),
               open_ticket(alice, category="account"), open_ticket(bob, category="other")]
    ids = [t["id"] for t in tickets]
    data(support.post(f"{ADMIN_TICKETS}/{ids[0]}/assign", json={"username": "sam"}))
    data(support.post(f"{ADMIN_TICKETS}/{ids[1]}/assign", json={"username": "Tess"}))
    data(support.post(f"{ADMIN_TICKETS}/{ids[2]}/messages", json={"body": "please send a screenshot"}), 201)

    def listed(query: str = "") -> list[str]:
        return [t["id"] for t in data(support.get(f"{ADMIN_TICKETS}{query}"))["tickets"]]

    assert listed() == ids[::-1]
    assert listed("?category=account") == [ids[2], ids[0]]
    assert listed("?status=waiting_user") == [ids[2]]
    assert listed("?status=open&category=account") == [ids[0]]
    assert listed("?assigned=me") == [ids[0]]
    assert listed("?assigned=tess") == [ids[1]]
    assert listed("?assigned=none") == [ids[3], ids[2]]
    first = data(support.get(f"{ADMIN_TICKETS}?limit=3"))
    assert [t["id"] for t in first["tickets"]] == ids[:0:-1] and first["next_cursor"]
    second = data(support.get(f"{ADMIN_TICKETS}?limit=3&cursor={first['next_cursor']}"))
    assert [t["id"] for t in second["tickets"]] == [ids[0]] and second["next_cursor"] is None
    assert data(support.get(f"{ADMIN_TICKETS}?assigned=tess"))["tickets"][0]["assigned_to"] == "tess"

    assert error(support.get(f"{ADMIN_TICKETS}?assigned=nobody"), 404)["code"] == "staff_not_found"
    assert error(support.get(f"{ADMIN_TICKETS}?cursor={'0' * 32}"), 422)["code"] == "invalid_cursor"
    for bad in ("?status=pending", "?category=refund", "?limit=0", "?limit=101", "?sort=id"):
        assert error(support.get(f"{ADMIN_TICKETS}{bad}"), 422)["code"] == "validation_error", bad


def test_assignment_goes_only_to_active_staff_who_may_answer(app, alice, support, dbx):
    create_staff(app, "fiona", ["finance"])
    ticket = open_ticket(alice)
    path = f"{ADMIN_TICKETS}/{ticket['id']}/assign"
    for username in ("fiona", "ghost"):
        refused = error(support.post(path, json={"username": username}), 422)
        assert refused["code"] == "assignee_invalid" and refused["details"]["fields"][0]["field"] == "username"
    assert data(support.post(path, json={"username": "sam"}))["assigned_to"] == "sam"
    assert data(support.post(path, json={"username": None}))["assigned_to"] is None
    assert [e.details for e in entries(dbx, "ticket.assign")] == [{"from": None, "to": "sam"},
                                                                 {"from": "sam", "to": None}]
    assert dbx.one(select(Ticket)).assigned_staff_id is None


def test_finance_reads_disputes_but_only_support_answers(app, alice, dbx):
    create_staff(app, "fiona", ["finance"])
    finance = StaffClient.login(app, "fiona")
    order_no = seed_order(dbx, user_id(dbx, alice))
    ticket = open_ticket(alice, category="order_dispute", order_no=order_no)
    assert data(finance.get(f"{ADMIN_TICKETS}/{ticket['id']}"))["order"]["order_no"] == order_no
    for path, body in (("messages", {"body": "hi"}), ("status", {"status": "closed"}), ("assign", {"username": None})):
        refused = error(finance.post(f"{ADMIN_TICKETS}/{ticket['id']}/{path}", json=body), 403)
        assert refused["code"] == "permission_denied" and refused["details"]["permission"] == "tickets.write"
    assert data(finance.get(f"{ADMIN_TICKETS}/{ticket['id']}"))["status"] == "open"
    assert len(entries(dbx, "staff.permission_denied")) == 3


def staff_routes(app) -> list[tuple[str, str, Permission]]:
    """Every route of the support staff blueprint, with the permission it declares."""
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith(f"{staff_views.bp.name}."):
            view = app.view_functions[rule.endpoint]
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                routes.append((method, rule.rule.replace("<ticket_id>", "{id}"), view.staff_permission))
    return routes


def test_every_support_staff_route_declares_a_permission_and_refuses_roles_without_it(app, alice, client):
    routes = staff_routes(app)
    assert {(m, p) for m, p, _ in routes} == {
        ("GET", "/admin/api/tickets"), ("GET", "/admin/api/tickets/{id}"),
        ("POST", "/admin/api/tickets/{id}/messages"), ("POST", "/admin/api/tickets/{id}/status"),
        ("POST", "/admin/api/tickets/{id}/assign")}
    assert all(isinstance(permission, Permission) for _, _, permission in routes)
    ticket = open_ticket(alice)
    bodies = {"messages": {"body": "x"}, "status": {"status": "closed"}, "assign": {"username": None}}
    for role, granted in ROLE_PERMISSIONS.items():
        create_staff(app, f"r-{role.value}".replace("_", "-"), [role.value])
        staff = StaffClient.login(app, f"r-{role.value}".replace("_", "-"))
        for method, path, permission in routes:
            if permission in granted:
                continue
            url = path.replace("{id}", ticket["id"])
            response = staff.request(method, url, json=bodies.get(url.rsplit("/", 1)[-1]) if method == "POST" else None)
            assert response.status_code == 403, (role, method, path)
            assert json_of(response)["error"]["code"] == "permission_denied"
    for method, path, _ in routes:  # nobody logged in
        response = client.open(path.replace("{id}", ticket["id"]), method=method, json={} if method == "POST" else None)
        assert response.status_code == 401 and json_of(response)["error"]["code"] == "staff_authentication_required"
    thread = alice.get(f"{TICKETS}/{ticket['id']}").get_json()["data"]  # the refused calls changed nothing
    assert thread["status"] == "open" and len(thread["messages"]) == 1 and thread["has_unread_staff_reply"] is False


def test_unsafe_staff_requests_need_the_csrf_token(app, alice, support, dbx):
    ticket = open_ticket(alice)
    refused = support.post(f"{ADMIN_TICKETS}/{ticket['id']}/messages", json={"body": "forged"}, csrf=False)
    assert error(refused, 403)["code"] == "csrf_failed"
    forged = support.post(f"{ADMIN_TICKETS}/{ticket['id']}/messages", json={"body": "forged"},
                          headers={"X-CSRF-Token": "not-the-token"})
    assert error(forged, 403)["code"] == "csrf_failed"
    assert dbx.count(TicketMessage) == 1 and entries(dbx, "ticket.reply") == []


def test_a_job_link_is_shown_to_staff(app, alice, support, dbx):
    job_id = seed_job(dbx, user_id(dbx, alice))
    ticket = open_ticket(alice, category="generation_quality", job_id=job_id)
    assert data(support.get(f"{ADMIN_TICKETS}/{ticket['id']}"))["job"] == {"id": job_id, "style": "pop_art",
                                                                          "status": "succeeded"}
