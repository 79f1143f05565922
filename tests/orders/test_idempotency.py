"""Idempotency-Key on POST /orders: a retried creation returns the first order, never a second one."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select

from app.core.idempotency import IdempotencyKey
from app.orders.models import Order, OrderEvent
from tests.conftest import all_at_once

BODY = {"product": "avatar_creation", "subject": None}


def create(phone, key: str, body: dict = BODY, client=None):
    return (client or phone.client).post("/api/v1/orders", json=body,
                                         headers={**phone.headers(), "Idempotency-Key": key})


def test_a_retried_order_is_the_first_order(uploader, dbx):
    first = create(uploader, "order-1")
    again = create(uploader, "order-1")
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json() and again.headers["Idempotent-Replayed"] == "true"
    assert dbx.count(Order) == 1
    reused = create(uploader, "order-1", {"product": "video_generation", "subject": None})
    assert reused.status_code == 422 and reused.get_json()["error"]["code"] == "idempotency_key_reused"
    assert create(uploader, "order-2").status_code == 201 and dbx.count(Order) == 2


@pytest.mark.postgres
def test_twenty_concurrent_retries_make_one_order(app, uploader, dbx):
    def send(index: int):
        response = create(uploader, "burst", client=app.test_client())
        return response.status_code, response.get_json()

    answers = all_at_once(20, send)
    assert dbx.count(Order) == 1
    assert {status for status, _ in answers} == {201}
    assert len({body["data"]["order"]["order_no"] for _, body in answers}) == 1


def test_the_order_and_its_answer_commit_together(app, uploader, dbx):
    """One commit holds the key, the order, its event and the stored answer: a duplicate never finds the
    order without its answer (nothing to wait for, no 409)."""
    from app.extensions import db

    commits: list[tuple[int, int]] = []
    with app.app_context():
        engine = db.engine

    def on_commit(connection) -> None:
        commits.append((connection.exec_driver_sql("SELECT count(*) FROM orders").scalar(),
                        connection.exec_driver_sql("SELECT count(*) FROM idempotency_keys WHERE status = 201")
                        .scalar()))

    event.listen(engine, "commit", on_commit)
    try:
        assert create(uploader, "together").status_code == 201
    finally:
        event.remove(engine, "commit", on_commit)
    assert [c for c in commits if c != (0, 0)] == [(1, 1)]  # no commit with the order but not its answer
    assert dbx.count(Order) == dbx.count(OrderEvent) == 1


def test_a_failed_prepay_keeps_neither_the_order_nor_the_key(uploader, wechat_sandbox, dbx):
    wechat_sandbox.dev("pay/faults", {"path": "/v3/pay/transactions/jsapi", "code": "SYSTEM_ERROR", "delay": 0})
    failed = create(uploader, "order-1")
    assert failed.status_code == 503 and failed.get_json()["error"]["code"] == "payment_unavailable"
    assert dbx.count(Order) == 0 and dbx.count(IdempotencyKey) == 0
    again = create(uploader, "order-1")  # WeChat Pay is back: the retry does the work, no replayed 503
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert dbx.count(Order) == 1
    assert dbx.one(select(IdempotencyKey)).status == 201
