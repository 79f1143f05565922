"""Idempotency-Key on POST /orders: a retried creation returns the first order, never a second one."""

from __future__ import annotations

import pytest

from app.orders.models import Order
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
