"""Orders over HTTP: prepay through wechatpayv3 → the sandbox pays → signed notification → fulfilled."""

import io
import json
import threading
import time

import pytest
from PIL import Image
from sqlalchemy import select, text, update

from app.orders.models import Entitlement, Order, OrderEvent
from tests.conftest import USES_POSTGRES
from tests.orders.conftest import NOTIFY_PATH, buy, pay, wait_for_order


def path_of(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def test_products_have_server_side_prices(client):
    products = {p["id"]: p for p in client.get("/api/v1/products").get_json()["data"]["products"]}
    assert products["hd_result"]["price_fen"] == 990


def test_the_client_never_sends_an_amount(uploader, result_id):
    response = uploader.call("POST", "/api/v1/orders", json={"product": "hd_result", "subject": result_id,
                                                             "amount_fen": 1})
    assert response.status_code == 201
    assert response.get_json()["data"]["order"]["amount_fen"] == 990


def test_end_to_end_hd_download(uploader, result_id, wechat_sandbox, client, dbx):
    links = uploader.get(f"/api/v1/results/{result_id}/links").get_json()["data"]
    assert client.get(path_of(links["original_url"])).status_code == 402
    data = buy(uploader, "hd_result", result_id)["data"]
    order = data["order"]
    assert len(order["order_no"]) <= 32 and order["status"] == "created" and order["payment_status"] == "unpaid"
    assert data["payment"]["signType"] == "RSA" and data["payment"]["package"].startswith("prepay_id=")
    pay(wechat_sandbox, data)
    paid = wait_for_order(uploader, order["order_no"], "fulfilled")
    assert paid["payment_status"] == "paid" and paid["paid_at"]
    original = client.get(path_of(uploader.get(f"/api/v1/results/{result_id}/links").get_json()["data"]
                                  ["original_url"]))
    assert original.status_code == 200
    assert Image.open(io.BytesIO(original.data)).size == (1024, 1024)
    events = [(e.from_status, e.to_status) for e in dbx.run(lambda s: list(s.scalars(select(OrderEvent))))]
    assert events == [(None, "created"), ("created", "paid"), ("paid", "fulfilled")]


def test_asking_again_reuses_the_prepay_id(uploader, result_id):
    first = buy(uploader, "hd_result", result_id)["data"]
    again = uploader.call("POST", f"/api/v1/orders/{first['order']['order_no']}/pay").get_json()["data"]
    assert again["payment"]["package"] == first["payment"]["package"]


def test_twenty_concurrent_deliveries_fulfil_once(uploader, result_id, wechat_sandbox, dbx):
    data = buy(uploader, "hd_result", result_id)["data"]
    notification_id = pay(wechat_sandbox, data)["notification_id"]
    wait_for_order(uploader, data["order"]["order_no"], "fulfilled")
    answer = wechat_sandbox.dev(f"pay/notifications/{notification_id}/redeliver", {"count": 20, "concurrent": True})
    assert len(answer["attempts"]) == 20
    assert dbx.count(Entitlement) == 1
    assert dbx.count(OrderEvent, OrderEvent.to_status == "fulfilled") == 1


def test_concurrent_first_deliveries_race_and_fulfil_once(uploader, result_id, wechat_sandbox, dbx, app,
                                                          capture, client):
    data = buy(uploader, "hd_result", result_id)["data"]
    pay(wechat_sandbox, data)
    assert capture.event.wait(10)
    headers, body = capture.received[0]
    results = []

    def deliver():
        with app.test_client() as c:
            results.append(c.post("/api/v1/payments/wechat/notify", data=body, headers=headers).status_code)

    threads = [threading.Thread(target=deliver) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert dbx.count(Entitlement) == 1
    assert dbx.one(select(Order)).status == "fulfilled"
    assert set(results) <= {204, 500}, results  # a 5xx asks WeChat to retry; never a second fulfilment
    if USES_POSTGRES:  # the copies wait for the first one's claim, then acknowledge it: no retry needed
        assert results == [204] * 20


@pytest.mark.parametrize("tamper", ["forged_signature", "body_altered", "old_timestamp", "unknown_serial",
                                    "probe", "missing_headers"])
def test_tampered_notifications_are_rejected_and_nothing_changes(uploader, result_id, wechat_sandbox, dbx,
                                                                  capture, client, caplog, tamper, monkeypatch):
    data = buy(uploader, "hd_result", result_id)["data"]
    pay(wechat_sandbox, data)
    assert capture.event.wait(10)
    headers, body = dict(capture.received[0][0]), capture.received[0][1]
    if tamper == "forged_signature":
        headers["Wechatpay-Signature"] = headers["Wechatpay-Signature"][::-1]
    elif tamper == "body_altered":
        body = body.replace(b'"TRANSACTION.SUCCESS"', b'"TRANSACTION.SUCCESS" ')
    elif tamper == "old_timestamp":
        import app.orders.wechatpay as wp

        real = wp.time.time
        monkeypatch.setattr(wp.time, "time", lambda: real() + 600)
    elif tamper == "unknown_serial":
        headers["Wechatpay-Serial"] = "PUB_KEY_ID_0000000000000000000000000000000000"
    elif tamper == "probe":
        headers["Wechatpay-Signature"] = "WECHATPAY/SIGNTEST/" + headers["Wechatpay-Signature"]
    else:
        headers.pop("Wechatpay-Signature")
    response = client.post("/api/v1/payments/wechat/notify", data=body, headers=headers)
    assert response.status_code == 400 and response.get_json() == {"code": "FAIL", "message": "rejected"}
    assert dbx.one(select(Order)).status == "created" and dbx.count(Entitlement) == 0
    assert any("payment notification rejected" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("mismatch", ["amount", "unknown_order", "other_merchant"])
def test_notifications_that_do_not_match_the_order_are_rejected(uploader, result_id, wechat_sandbox, dbx, app,
                                                                capture, client, mismatch):
    data = buy(uploader, "hd_result", result_id)["data"]
    pay(wechat_sandbox, data)
    assert capture.event.wait(10)
    headers, body = capture.received[0]
    if mismatch == "amount":
        dbx.execute(update(Order).values(amount_fen=1))
    elif mismatch == "unknown_order":
        dbx.execute(update(Order).values(out_trade_no="MH000000OTHER"))
    else:
        app.config["WECHAT_PAY_MCHID"] = "1999999999"
        app.extensions.pop("wechatpay_merchant", None)
    response = client.post("/api/v1/payments/wechat/notify", data=body, headers=headers)
    assert response.status_code == 400
    assert dbx.one(select(Order)).status == "created" and dbx.count(Entitlement) == 0


def test_a_lost_notification_is_recovered_by_the_query_job(uploader, result_id, wechat_sandbox, app, capture):
    data = buy(uploader, "hd_result", result_id)["data"]
    pay(wechat_sandbox, data)  # the notification goes to `capture`, never to us
    app.config["ORDER_QUERY_AFTER_S"] = 0
    try:
        with app.app_context():
            from app.orders.services import reconcile

            assert reconcile()["paid"] == 1
    finally:
        app.config["ORDER_QUERY_AFTER_S"] = 60
    assert uploader.get(f"/api/v1/orders/{data['order']['order_no']}").get_json()["data"]["status"] == "fulfilled"


def test_an_unpaid_order_is_closed_on_expiry_at_wechat_too(uploader, result_id, wechat_sandbox, app, dbx):
    from datetime import timedelta

    from app.core.db import utcnow

    data = buy(uploader, "hd_result", result_id)["data"]
    dbx.execute(update(Order).values(expires_at=utcnow() - timedelta(seconds=1),
                                     created_at=utcnow() - timedelta(hours=1)))
    with app.app_context():
        from app.orders.services import reconcile

        assert reconcile()["closed"] == 1
    transactions = wechat_sandbox.dev("pay/transactions", method="GET")["transactions"]
    assert transactions[0]["trade_state"] == "CLOSED"
    again = uploader.call("POST", f"/api/v1/orders/{data['order']['order_no']}/pay")
    assert again.status_code == 409


def test_the_user_cancels_an_unpaid_order(uploader, result_id, wechat_sandbox):
    data = buy(uploader, "hd_result", result_id)["data"]
    cancelled = uploader.call("POST", f"/api/v1/orders/{data['order']['order_no']}/cancel").get_json()["data"]
    assert cancelled["status"] == "closed"
    assert wechat_sandbox.dev("pay/transactions", method="GET")["transactions"][0]["trade_state"] == "CLOSED"
    prepay_id = data["payment"]["package"].removeprefix("prepay_id=")
    refused = wechat_sandbox.http.post(f"{wechat_sandbox.base_url}/sandbox/api/pay/pay",
                                       json={"prepay_id": prepay_id, "user": "alice"})
    assert refused.status_code >= 400  # it can no longer be paid


def test_other_users_cannot_see_or_buy_for_my_results(uploader, result_id, client, wechat_sandbox):
    from tests.accounts.helpers import Phone

    data = buy(uploader, "hd_result", result_id)["data"]
    bob = Phone(client, wechat_sandbox, "bob", "device-bob")
    wechat_sandbox.set_user("bob", phone="13900002222")
    bob.login()
    bob.bind_phone()
    bob.accept()
    assert bob.get(f"/api/v1/orders/{data['order']['order_no']}").status_code == 404
    assert buy(bob, "hd_result", result_id, expect=404)["error"]["code"] == "result_not_found"


def test_a_rejected_notification_leaves_no_trace_so_the_retry_is_applied(uploader, result_id, wechat_sandbox, dbx,
                                                                         capture, client):
    data = buy(uploader, "hd_result", result_id)["data"]
    pay(wechat_sandbox, data)
    assert capture.event.wait(10)
    headers, body = capture.received[0]
    amount = dbx.one(select(Order)).amount_fen
    dbx.execute(update(Order).values(amount_fen=1))
    assert client.post("/api/v1/payments/wechat/notify", data=body, headers=headers).status_code == 400
    dbx.execute(update(Order).values(amount_fen=amount))  # e.g. the mismatch was ours and is fixed
    assert client.post("/api/v1/payments/wechat/notify", data=body, headers=headers).status_code == 204
    assert dbx.one(select(Order)).status == "fulfilled" and dbx.count(Entitlement) == 1


def _captured_notification(uploader, wechat_sandbox, capture, product="video_pack_5"):
    data = buy(uploader, product)["data"]
    pay(wechat_sandbox, data)
    assert capture.event.wait(10)
    return capture.received[0]


def test_a_notification_is_claimed_then_applied_in_one_statement_or_four(uploader, wechat_sandbox, dbx, app,
                                                                         capture, client):
    """PostgreSQL: claim, pay + fulfil, entitlement and both events are one statement (data-modifying CTEs) that
    commits on its own (autocommit: no BEGIN, no COMMIT); SQLite runs the same four one by one in a transaction.
    A duplicate changes nothing either way."""
    from sqlalchemy import event

    from app.extensions import db
    from app.orders.models import ProcessedNotification

    headers, body = _captured_notification(uploader, wechat_sandbox, capture)
    statements: list[str] = []
    autocommit: list[bool] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement.split()[0].upper())
        autocommit.append(getattr(cursor.connection, "autocommit", None))  # psycopg's; sqlite3 has none on 3.11

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert client.post(NOTIFY_PATH, data=body, headers=headers).status_code == 204
        first, statements[:] = list(statements), []
        assert client.post(NOTIFY_PATH, data=body, headers=headers).status_code == 204
        duplicate = list(statements)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    if USES_POSTGRES:
        assert first == ["WITH"] and duplicate == ["WITH"]  # the duplicate finds the claim: nothing written
        assert autocommit == [True, True]  # each committed on its own: no BEGIN and COMMIT round trips
    else:
        assert first == ["INSERT", "UPDATE", "INSERT", "INSERT"]  # claim, pay + fulfil, entitlement, two events
        assert duplicate == ["INSERT"]  # the claim finds it: nothing else is read or written
    order = dbx.one(select(Order))
    assert order.status == "fulfilled" and order.paid_at and order.fulfilled_at and order.transaction_id
    assert [(e.from_status, e.to_status, e.cause) for e in dbx.run(lambda s: list(s.scalars(
        select(OrderEvent).order_by(OrderEvent.id))))] == [
        (None, "created", "user"), ("created", "paid", "notification"), ("paid", "fulfilled", "entitlement_granted")]
    entitlement = dbx.one(select(Entitlement))
    assert (entitlement.order_id, entitlement.user_id, entitlement.kind, entitlement.credit_kind,
            entitlement.credits_total, entitlement.credits_used) == (order.id, order.user_id, "credit", "video", 5, 0)
    assert [p.event_type for p in dbx.run(lambda s: list(s.scalars(select(ProcessedNotification))))] == [
        "TRANSACTION.SUCCESS"]
    assert dbx.count(OrderEvent) == 3 and dbx.count(Entitlement) == 1  # the duplicate added nothing


@pytest.mark.skipif(not USES_POSTGRES, reason="the one-statement path and its row lock are PostgreSQL's")
@pytest.mark.parametrize("other_copy", ["commits", "rolls_back"])
def test_a_first_delivery_waits_for_a_copy_in_flight_and_follows_its_outcome(uploader, wechat_sandbox, dbx, app,
                                                                            capture, client, other_copy):
    """Another copy of the notification, applied by the general path, holds the order's row and its claim
    uncommitted. The one-statement path waits for the row lock; then, if that copy committed, the order is no
    longer ``created``: it writes nothing and the claim finds the other copy's (a duplicate, acknowledged); if
    that copy rolled back, the order is still ``created`` and is paid and fulfilled once."""
    from app.extensions import db
    from app.orders.models import ProcessedNotification

    headers, body = _captured_notification(uploader, wechat_sandbox, capture, "video_generation")
    notification_id = json.loads(body)["id"]
    with app.app_context():
        engine = db.engine
    other = engine.connect()
    other_tx = other.begin()
    other.execute(text("INSERT INTO processed_notifications (id, event_type, received_at) "
                       "VALUES (:id, 'TRANSACTION.SUCCESS', now())"), {"id": notification_id})
    other.execute(text("UPDATE orders SET status = 'fulfilled', paid_at = now(), fulfilled_at = now()"))
    other.execute(text("INSERT INTO entitlements (user_id, order_id, kind, credit_kind, credits_total, credits_used, "
                       "created_at) SELECT user_id, id, 'credit', 'video', 1, 0, now() FROM orders"))
    answers: list[int] = []

    def deliver():
        with app.test_client() as c:
            answers.append(c.post(NOTIFY_PATH, data=body, headers=headers).status_code)

    delivery = threading.Thread(target=deliver)
    delivery.start()
    try:
        deadline = time.monotonic() + 10
        with engine.connect() as watcher:  # until the delivery waits for the other copy's row lock
            while not watcher.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                          "AND datname = current_database()")):
                assert time.monotonic() < deadline, "the delivery never waited for the row lock"
                time.sleep(0.02)
    finally:
        other_tx.commit() if other_copy == "commits" else other_tx.rollback()
        other.close()
        delivery.join(10)
    assert answers == [204]
    order = dbx.one(select(Order))
    assert order.status == "fulfilled"
    assert dbx.count(Entitlement) == 1 and dbx.count(ProcessedNotification) == 1
    events = [(e.from_status, e.to_status, e.cause) for e in dbx.run(lambda s: list(s.scalars(
        select(OrderEvent).order_by(OrderEvent.id))))]
    if other_copy == "commits":  # the other copy's rows only: this delivery wrote nothing
        assert events == [(None, "created", "user")] and order.transaction_id is None
    else:
        assert events == [(None, "created", "user"), ("created", "paid", "notification"),
                          ("paid", "fulfilled", "entitlement_granted")] and order.transaction_id


def test_a_payment_notified_after_the_user_cancelled_is_refunded(uploader, wechat_sandbox, dbx, capture, client):
    from app.orders.models import Refund

    headers, body = _captured_notification(uploader, wechat_sandbox, capture, "video_generation")
    dbx.execute(update(Order).values(status="closed"))  # the close raced the payment
    assert client.post(NOTIFY_PATH, data=body, headers=headers).status_code == 204
    order = dbx.one(select(Order))
    assert order.status == "refunding" and order.transaction_id and dbx.count(Entitlement) == 0
    assert dbx.one(select(Refund)).reason == "paid_after_close"
