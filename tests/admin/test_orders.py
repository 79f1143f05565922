"""Finance staff: orders with their history, refunds through WeChat Pay (sandbox) end to end."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from app.core.db import utcnow
from app.orders.models import Order, Refund
from tests.admin.conftest import CLEAR_PHONE, MASKED_PHONE, audit_entries, error_code
from tests.orders.conftest import buy, pay, wait_for_order
from tests.privacy.conftest import run_queue


def paid_order(uploader, wechat_sandbox, product="video_pack_5") -> str:
    data = buy(uploader, product)["data"]
    pay(wechat_sandbox, data)
    order_no = data["order"]["order_no"]
    wait_for_order(uploader, order_no, "fulfilled")
    return order_no


def test_a_refund_goes_to_wechat_pay_and_settles_on_its_notification(uploader, wechat_sandbox, staff, app, dbx):
    order_no = paid_order(uploader, wechat_sandbox)
    finance = staff("finance")
    response = finance.post(f"/admin/api/orders/{order_no}/refund", json={"reason": "duplicate purchase"})
    assert response.status_code == 202, response.get_json()
    data = response.get_json()["data"]
    assert data["status"] == "refunding" and data["refundable_fen"] == 0
    [refund] = data["refunds"]
    assert refund["status"] == "requested" and refund["amount_fen"] == 7990
    assert refund["reason"] == "staff: duplicate purchase"
    assert uploader.get("/api/v1/orders").get_json()["data"]["credits"] == {}  # what it granted is revoked

    run_queue(app, "default")  # submit_refund → the sandbox's refund API → REFUND.SUCCESS notification
    wait_for_order(uploader, order_no, "refunded")
    detail = finance.get(f"/admin/api/orders/{order_no}").get_json()["data"]
    assert detail["status"] == "refunded" and detail["refunded_fen"] == 7990
    assert detail["refunds"][0]["status"] == "success" and detail["refunds"][0]["finished_at"]
    assert [e["to_status"] for e in detail["events"]] == ["created", "paid", "fulfilled", "refunding", "refunded"]
    refunds_at_wechat = [n for n in wechat_sandbox.dev("pay/notifications", method="GET")["notifications"]
                         if n["event_type"] == "REFUND.SUCCESS"]
    assert len(refunds_at_wechat) == 1

    [entry] = audit_entries(dbx, "order.refund")
    assert entry.target_id == order_no and entry.reason == "duplicate purchase"
    assert entry.details == {"amount_fen": 7990, "ticket_id": None} and entry.staff_username == "s_finance"
    again = finance.post(f"/admin/api/orders/{order_no}/refund", json={"reason": "duplicate purchase"})
    assert again.status_code == 409 and error_code(again) == "refund_exceeds_paid"
    assert len(audit_entries(dbx, "order.refund")) == 1  # a refused refund leaves no entry


def test_partial_refunds_and_their_limits(uploader, wechat_sandbox, staff, app, dbx):
    order_no = paid_order(uploader, wechat_sandbox)
    finance = staff("finance")
    too_much = finance.post(f"/admin/api/orders/{order_no}/refund", json={"amount_fen": 7991, "reason": "too much"})
    assert too_much.status_code == 409 and error_code(too_much) == "refund_exceeds_paid"
    assert too_much.get_json()["error"]["details"]["refundable_fen"] == 7990
    part = finance.post(f"/admin/api/orders/{order_no}/refund", json={"amount_fen": 1990, "reason": "one video bad"})
    assert part.status_code == 202 and part.get_json()["data"]["refundable_fen"] == 6000
    in_flight = finance.post(f"/admin/api/orders/{order_no}/refund", json={"amount_fen": 100, "reason": "and more"})
    assert in_flight.status_code == 409 and error_code(in_flight) == "invalid_order_state"
    run_queue(app, "default")
    wait_for_order(uploader, order_no, "partially_refunded")
    assert dbx.one(select(Order)).refunded_fen == 1990
    rest = finance.post(f"/admin/api/orders/{order_no}/refund", json={"reason": "the rest after all"})
    assert rest.status_code == 202 and rest.get_json()["data"]["refunds"][1]["amount_fen"] == 6000
    assert dbx.count(Refund) == 2


def test_unpaid_and_late_orders_are_refused(uploader, wechat_sandbox, staff, dbx):
    unpaid = buy(uploader, "video_pack_5")["data"]["order"]["order_no"]
    finance = staff("finance")
    response = finance.post(f"/admin/api/orders/{unpaid}/refund", json={"reason": "never paid"})
    assert response.status_code == 409 and error_code(response) == "order_not_paid"
    order_no = paid_order(uploader, wechat_sandbox)
    dbx.execute(update(Order).where(Order.out_trade_no == order_no).values(paid_at=utcnow() - timedelta(days=8)))
    late = finance.post(f"/admin/api/orders/{order_no}/refund", json={"reason": "asked too late"})
    assert late.status_code == 409 and error_code(late) == "refund_window_passed"
    assert late.get_json()["error"]["details"]["window_days"] == 7
    missing = finance.post("/admin/api/orders/MH000000NOPE/refund", json={"reason": "no such order"})
    assert missing.status_code == 404 and error_code(missing) == "order_not_found"
    assert dbx.count(Refund) == 0 and audit_entries(dbx, "order.refund") == []


def test_a_refund_can_answer_the_buyers_own_ticket_only(uploader, wechat_sandbox, staff, dbx):
    order_no = paid_order(uploader, wechat_sandbox)
    ticket = uploader.call("POST", "/api/v1/tickets", json={
        "category": "order_dispute", "subject": "charged twice", "body": "I paid twice for this pack",
        "order_no": order_no})
    assert ticket.status_code == 201, ticket.get_json()
    ticket_id = ticket.get_json()["data"]["id"]
    finance = staff("finance")
    unknown = finance.post(f"/admin/api/orders/{order_no}/refund", json={"reason": "dispute", "ticket_id": "0" * 32})
    assert unknown.status_code == 404 and error_code(unknown) == "ticket_not_found"
    done = finance.post(f"/admin/api/orders/{order_no}/refund", json={"reason": "dispute", "ticket_id": ticket_id})
    assert done.status_code == 202
    assert audit_entries(dbx, "order.refund")[0].details["ticket_id"] == ticket_id


def test_order_list_and_detail_show_the_buyer_masked(uploader, wechat_sandbox, staff, dbx):
    paid = paid_order(uploader, wechat_sandbox)
    unpaid = [buy(uploader, "video_generation")["data"]["order"]["order_no"] for _ in range(3)]
    support = staff("support")  # orders.read, but not orders.refund
    listed = support.get("/admin/api/orders").get_json()["data"]
    assert [o["order_no"] for o in listed["orders"]] == [*reversed(unpaid), paid] and listed["next_cursor"] is None
    assert support.get("/admin/api/orders", query_string={"status": "fulfilled"}).get_json()["data"]["orders"][0][
        "order_no"] == paid
    future = (utcnow() + timedelta(hours=1)).isoformat()
    assert support.get("/admin/api/orders", query_string={"since": future}).get_json()["data"]["orders"] == []
    bad = support.get("/admin/api/orders", query_string={"status": "lost"})
    assert bad.status_code == 422
    first = support.get("/admin/api/orders", query_string={"limit": 2}).get_json()["data"]
    assert len(first["orders"]) == 2 and first["next_cursor"]
    second = support.get("/admin/api/orders", query_string={"limit": 2, "cursor": first["next_cursor"]})
    assert [o["order_no"] for o in second.get_json()["data"]["orders"]] == [unpaid[0], paid]
    assert second.get_json()["data"]["next_cursor"] is None

    detail = support.get(f"/admin/api/orders/{paid}")
    assert detail.status_code == 200
    buyer = detail.get_json()["data"]["buyer"]
    assert buyer["phone"] == MASKED_PHONE and CLEAR_PHONE not in detail.get_data(as_text=True)
    [view] = audit_entries(dbx, "order.view")
    assert view.target_id == paid and view.details == {"buyer": buyer["id"]}
    assert len(audit_entries(dbx, "order.list")) >= 4


def test_support_can_read_orders_but_not_refund(uploader, wechat_sandbox, staff, anonymous, dbx):
    order_no = paid_order(uploader, wechat_sandbox)
    refused = staff("support").post(f"/admin/api/orders/{order_no}/refund", json={"reason": "friendly gesture"})
    assert refused.status_code == 403 and error_code(refused) == "permission_denied"
    for who in (staff("privacy_officer"), staff("auditor"), staff("admin")):
        response = who.get(f"/admin/api/orders/{order_no}")
        assert response.status_code == 403 and error_code(response) == "permission_denied"
    assert anonymous.get("/admin/api/orders").status_code == 401
    assert anonymous.post(f"/admin/api/orders/{order_no}/refund", json={"reason": "anonymous"}).status_code == 401
    assert dbx.count(Refund) == 0 and dbx.one(select(Order)).status == "fulfilled"
