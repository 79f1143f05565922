"""Support tickets, the user's side: asking, the thread, statuses, limits, who may see what."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from app.support.models import Ticket, TicketMessage
from tests.support.conftest import TICKETS, open_ticket, seed_job, seed_order, set_ticket, user_id


def test_a_user_who_has_not_accepted_the_policy_can_still_ask_and_read_the_thread(alice, dbx):
    # The same user is refused elsewhere: tickets are deliberately exempt from the consent guard.
    assert alice.get("/api/v1/orders").get_json()["error"]["code"] in ("consent_required", "policy_update_required")

    created = open_ticket(alice, category="account", subject="  Cannot log in  ", body="It says my code is wrong.")
    assert created["status"] == "open" and created["category"] == "account"
    assert created["subject"] == "Cannot log in"  # surrounding spaces dropped
    assert [(m["author"], m["body"]) for m in created["messages"]] == [("user", "It says my code is wrong.")]
    assert created["closed_at"] is None and created["has_unread_staff_reply"] is False

    second = open_ticket(alice, subject="Second")
    listed = alice.get(TICKETS).get_json()["data"]["tickets"]
    assert [t["id"] for t in listed] == [second["id"], created["id"]]  # newest first
    assert "messages" not in listed[0]

    thread = alice.get(f"{TICKETS}/{created['id']}").get_json()["data"]
    assert thread["messages"] == created["messages"]
    assert dbx.count(Ticket) == 2 and dbx.count(TicketMessage) == 2


def test_another_users_ticket_is_not_found_and_anonymous_callers_must_log_in(alice, bob, client):
    ticket = open_ticket(alice)
    for method, path, body in (("GET", f"{TICKETS}/{ticket['id']}", None),
                               ("POST", f"{TICKETS}/{ticket['id']}/messages", {"body": "mine now"}),
                               ("POST", f"{TICKETS}/{ticket['id']}/close", None)):
        response = bob.call(method, path, json=body)
        assert response.status_code == 404, (path, response.get_json())
        assert response.get_json()["error"]["code"] == "ticket_not_found"
        missing = bob.call(method, path.replace(ticket["id"], "0" * 32), json=body)
        assert missing.get_json()["error"] == {**response.get_json()["error"],
                                               "request_id": missing.get_json()["error"]["request_id"]}
        anonymous = client.open(path, method=method, json=body)
        assert anonymous.status_code == 401 and anonymous.get_json()["error"]["code"] == "authentication_required"
    assert bob.get(TICKETS).get_json()["data"]["tickets"] == []
    assert client.get(TICKETS).status_code == 401
    assert client.post(TICKETS, json={"category": "other", "subject": "s", "body": "b"}).status_code == 401
    thread = alice.get(f"{TICKETS}/{ticket['id']}").get_json()["data"]
    assert len(thread["messages"]) == 1 and thread["status"] == "open"  # bob changed nothing


def test_a_ticket_may_name_one_of_my_orders_or_jobs_but_never_someone_elses(alice, bob, dbx):
    alice_id, bob_id = user_id(dbx, alice), user_id(dbx, bob)
    my_order, my_job = seed_order(dbx, alice_id), seed_job(dbx, alice_id)
    bobs_order, bobs_job = seed_order(dbx, bob_id), seed_job(dbx, bob_id)

    ticket = open_ticket(alice, category="order_dispute", order_no=my_order, job_id=my_job)
    assert ticket["order_no"] == my_order and ticket["job_id"] == my_job
    assert alice.get(TICKETS).get_json()["data"]["tickets"][0]["order_no"] == my_order

    # Someone else's order or job answers exactly like one that does not exist: nothing is learnt.
    for fields, code in (({"order_no": bobs_order}, "order_not_found"), ({"order_no": "MH" + "0" * 24},
                                                                          "order_not_found"),
                         ({"job_id": bobs_job}, "job_not_found"), ({"job_id": "f" * 32}, "job_not_found")):
        error = open_ticket(alice, expect=404, category="order_dispute", **fields)
        assert error["code"] == code, fields
    assert dbx.count(Ticket) == 1


@pytest.mark.parametrize(("body", "field"), [
    ({"category": "refund_please", "subject": "s", "body": "b"}, "category"),
    ({"category": "other", "subject": "x" * 101, "body": "b"}, "subject"),
    ({"category": "other", "subject": "   ", "body": "b"}, "subject"),
    ({"category": "other", "subject": "s", "body": "y" * 2001}, "body"),
    ({"category": "other", "subject": "s", "body": ""}, "body"),
    ({"category": "other", "body": "b"}, "subject"),
    ({"category": "other", "subject": "s", "body": "b", "priority": "urgent"}, "priority"),
    ({"category": "other", "subject": "s", "body": "b", "order_no": ""}, "order_no"),
    ({"category": "other", "subject": 5, "body": "b"}, "subject"),
])
def test_bad_input_is_refused_with_the_field_named(alice, dbx, body, field):
    response = alice.call("POST", TICKETS, json=body)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    assert field in {f["field"] for f in error["details"]["fields"]}
    assert dbx.count(Ticket) == 0


def test_the_limits_are_inclusive(alice, dbx):
    ticket = open_ticket(alice, subject="x" * 100, body="y" * 2000)
    assert len(ticket["subject"]) == 100
    reply = alice.call("POST", f"{TICKETS}/{ticket['id']}/messages", json={"body": "z" * 2001})
    assert reply.status_code == 422 and reply.get_json()["error"]["details"]["fields"][0]["field"] == "body"
    assert alice.call("POST", TICKETS, data="not json", content_type="text/plain").status_code == 415
    assert alice.call("POST", TICKETS, data="{", content_type="application/json").get_json()["error"]["code"] == \
        "malformed_json"


def test_replies_reopen_a_ticket_waiting_for_the_user_or_resolved_and_closed_is_final(alice, dbx):
    ticket = open_ticket(alice)
    path = f"{TICKETS}/{ticket['id']}"
    reply = alice.call("POST", f"{path}/messages", json={"body": "More detail"})
    assert reply.status_code == 201 and reply.get_json()["data"]["author"] == "user"
    assert alice.get(path).get_json()["data"]["status"] == "open"  # still staff's turn

    set_ticket(dbx, ticket["id"], status="waiting_user")
    alice.call("POST", f"{path}/messages", json={"body": "Here is what you asked"})
    assert alice.get(path).get_json()["data"]["status"] == "open"

    set_ticket(dbx, ticket["id"], status="resolved", resolved_at=datetime.fromisoformat(ticket["created_at"]))
    alice.call("POST", f"{path}/messages", json={"body": "Actually it is not solved"})
    data = alice.get(path).get_json()["data"]
    assert data["status"] == "open" and len(data["messages"]) == 4
    assert dbx.one(select(Ticket).where(Ticket.public_id == ticket["id"])).resolved_at is None

    closed = alice.call("POST", f"{path}/close")
    assert closed.status_code == 200 and closed.get_json()["data"]["status"] == "closed"
    assert closed.get_json()["data"]["closed_at"] is not None
    for response in (alice.call("POST", f"{path}/close"),
                     alice.call("POST", f"{path}/messages", json={"body": "one more thing"})):
        assert response.status_code == 409
        error = response.get_json()["error"]
        assert error["code"] == "ticket_transition_invalid" and error["details"]["from"] == "closed"
    assert dbx.count(TicketMessage) == 4


def test_at_most_the_configured_number_of_unanswered_tickets(app, alice, dbx, monkeypatch):
    monkeypatch.setitem(app.config, "TICKET_MAX_OPEN_PER_USER", 2)
    first, second = open_ticket(alice), open_ticket(alice)
    error = open_ticket(alice, expect=409)
    assert error["code"] == "too_many_open_tickets" and error["details"]["max_open"] == 2
    assert dbx.count(Ticket) == 2
    # Answered by staff (waiting for the user) still counts; resolved and closed ones do not.
    set_ticket(dbx, first["id"], status="waiting_user")
    assert open_ticket(alice, expect=409)["code"] == "too_many_open_tickets"
    alice.call("POST", f"{TICKETS}/{second['id']}/close")
    third = open_ticket(alice)
    assert third["status"] == "open" and dbx.count(Ticket) == 3


def test_messages_are_rate_limited_per_user(app, alice, bob, monkeypatch):
    monkeypatch.setitem(app.config, "RATE_LIMIT_TICKET_MESSAGES", "3/minute")
    ticket = open_ticket(alice)  # creating counts as a message
    path = f"{TICKETS}/{ticket['id']}/messages"
    assert [alice.call("POST", path, json={"body": f"m{i}"}).status_code for i in range(3)] == [201, 201, 429]
    limited = alice.call("POST", path, json={"body": "again"})
    assert limited.get_json()["error"]["code"] == "rate_limited" and int(limited.headers["Retry-After"]) >= 1
    assert open_ticket(alice, expect=429)["code"] == "rate_limited"
    assert len(alice.get(f"{TICKETS}/{ticket['id']}").get_json()["data"]["messages"]) == 3
    open_ticket(bob)  # another user has their own budget


def test_text_that_fails_wechats_content_check_is_refused(alice, wechat_sandbox, dbx):
    wechat_sandbox.dev("risky-texts", {"term": "违禁词"})
    error = open_ticket(alice, expect=422, subject="含有违禁词的标题")
    assert error["code"] == "content_rejected" and error["details"]["fields"][0]["field"] == "subject"
    assert open_ticket(alice, expect=422, body="正文里有违禁词")["details"]["fields"][0]["field"] == "body"
    assert dbx.count(Ticket) == 0
    ticket = open_ticket(alice)
    reply = alice.call("POST", f"{TICKETS}/{ticket['id']}/messages", json={"body": "又是违禁词"})
    assert reply.status_code == 422 and reply.get_json()["error"]["code"] == "content_rejected"
    assert dbx.count(TicketMessage) == 1


@pytest.mark.postgres
def test_two_tickets_at_once_cannot_both_pass_the_limit(app, alice, dbx, monkeypatch):
    """Both requests pass the first count; the row lock on the user makes the second one re-count and fail."""
    import threading

    from app.support import services

    monkeypatch.setitem(app.config, "TICKET_MAX_OPEN_PER_USER", 1)
    both_checked = threading.Barrier(2, timeout=10)

    def slow_check(user, text, *, field):
        if field == "subject":
            both_checked.wait()  # both are past the unlocked count here

    monkeypatch.setattr(services, "check_text_is_safe", slow_check)
    statuses: list[int] = []

    def create() -> None:
        response = app.test_client().post(TICKETS, headers=alice.headers(),
                                          json={"category": "other", "subject": "s", "body": "b"})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=create) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert sorted(statuses) == [201, 409]
    assert dbx.count(Ticket) == 1
