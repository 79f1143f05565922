"""Shipping info after fulfilment: one doorbell sweep per burst, uploaded once, retried when anything failed."""

import logging
import types
from datetime import timedelta

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import select, text, update

from app.core.db import utcnow
from app.core.jobs import enqueue_now, redis_connection
from app.orders import shipping
from app.orders.models import Order
from tests.orders.conftest import buy, pay, run_default_queue, wait_for_order

SWEEP = "app.orders.tasks.upload_pending_shipping"
NOTIFY_PATH = "/api/v1/payments/wechat/notify"


def paid(phone, wechat_sandbox, product: str = "video_generation") -> str:
    data = buy(phone, product)["data"]
    notification_id = pay(wechat_sandbox, data)["notification_id"]
    order_no = wait_for_order(phone, data["order"]["order_no"], "fulfilled")["order_no"]
    # The doorbell rings after the commit the order's status shows, before the notification is answered.
    assert wechat_sandbox.pay_notification(notification_id, "delivered")["status"] == "delivered"
    return order_no


def queued(app) -> list[str]:
    return [job.func_name for job in Queue("default", connection=redis_connection(app)).jobs]


def uploads(wechat_sandbox) -> list[dict]:
    return wechat_sandbox.dev("shipping-uploads", method="GET")["shipping_uploads"]


def pending(dbx) -> int:
    return dbx.count(Order, Order.fulfilled_at.is_not(None), Order.shipping_uploaded_at.is_(None))


def age_fulfilments(dbx, minutes: int = 10) -> None:
    dbx.execute(update(Order).values(fulfilled_at=utcnow() - timedelta(minutes=minutes)))


def test_a_burst_of_fulfilments_rings_one_sweep_that_uploads_them_all(uploader, wechat_sandbox, app, dbx):
    paid(uploader, wechat_sandbox)
    paid(uploader, wechat_sandbox, "avatar_creation")  # while the first sweep waits: no second job
    assert queued(app) == [SWEEP]
    run_default_queue(app)
    assert pending(dbx) == 0
    orders = {o.transaction_id for o in dbx.run(lambda s: list(s.scalars(select(Order))))}
    sent = uploads(wechat_sandbox)
    assert len(sent) == 2 and {u["order_key"]["transaction_id"] for u in sent} == orders
    assert all(u["logistics_type"] == 3 and u["order_key"]["order_number_type"] == 2 for u in sent)
    assert redis_connection(app).get(shipping.DOORBELL_KEY) is None
    paid(uploader, wechat_sandbox)  # the sweep has read: the next fulfilment rings again
    assert queued(app) == [SWEEP]
    run_default_queue(app)
    assert pending(dbx) == 0 and len(uploads(wechat_sandbox)) == 3


def test_wechat_down_leaves_the_order_pending_for_the_periodic_retry(uploader, wechat_sandbox, app, dbx):
    paid(uploader, wechat_sandbox)
    wechat_sandbox.fault("/wxa/sec/order/upload_shipping_info", "http500")
    run_default_queue(app)
    assert pending(dbx) == 1 and uploads(wechat_sandbox) == []
    with app.app_context():
        assert shipping.retry_stale() == 0  # too recent: the doorbell path still owns it
    assert queued(app) == []
    age_fulfilments(dbx)
    redis_connection(app).set(shipping.DOORBELL_KEY, "1")  # e.g. left by a sweep that died
    with app.app_context():
        assert shipping.retry_stale() == 1
    assert queued(app) == [SWEEP]  # regardless of the doorbell
    run_default_queue(app)
    assert pending(dbx) == 0 and len(uploads(wechat_sandbox)) == 1


def test_redis_down_at_the_commit_still_fulfils_and_the_retry_uploads(uploader, wechat_sandbox, app, dbx, capture,
                                                                       client, monkeypatch, caplog):
    data = buy(uploader, "video_generation")["data"]
    pay(wechat_sandbox, data)
    assert capture.event.wait(10)
    headers, body = capture.received[0]
    down = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    monkeypatch.setattr("app.core.jobs.redis_connection", lambda app=None: down)
    with caplog.at_level(logging.ERROR, logger="app.orders.shipping"):
        assert client.post(NOTIFY_PATH, data=body, headers=headers).status_code == 204
    monkeypatch.undo()
    assert dbx.one(select(Order)).status == "fulfilled"
    assert any("shipping doorbell failed" in r.getMessage() for r in caplog.records)
    assert queued(app) == [] and pending(dbx) == 1
    age_fulfilments(dbx)
    with app.app_context():
        assert shipping.retry_stale() == 1
    run_default_queue(app)
    assert pending(dbx) == 0


def test_a_rejected_notification_rings_nothing(uploader, wechat_sandbox, app, dbx, capture, client):
    data = buy(uploader, "video_generation")["data"]
    pay(wechat_sandbox, data)
    assert capture.event.wait(10)
    headers, body = capture.received[0]
    dbx.execute(update(Order).values(amount_fen=1))
    assert client.post(NOTIFY_PATH, data=body, headers=headers).status_code == 400
    assert queued(app) == [] and redis_connection(app).get(shipping.DOORBELL_KEY) is None


def test_a_refused_order_does_not_stop_the_sweep(uploader, wechat_sandbox, app, dbx, monkeypatch):
    paid(uploader, wechat_sandbox)
    paid(uploader, wechat_sandbox)
    monkeypatch.setattr(shipping, "SWEEP_BATCH", 1)  # and the sweep pages through them
    wechat_sandbox.fault("/wxa/sec/order/upload_shipping_info", "errcode", errcode=40003)
    with app.app_context():
        assert shipping.upload_pending() == {"uploaded": 1, "skipped": 0, "failed": 1}
    assert pending(dbx) == 1 and len(uploads(wechat_sandbox)) == 1


def test_a_sweep_out_of_time_continues_in_a_fresh_job(uploader, wechat_sandbox, app, dbx, monkeypatch):
    paid(uploader, wechat_sandbox)
    paid(uploader, wechat_sandbox)
    assert queued(app) == [SWEEP]
    clock = iter([0.0, 0.0, shipping.SWEEP_BUDGET_S + 1])  # start, before order 1, before order 2
    monkeypatch.setattr(shipping, "time", types.SimpleNamespace(monotonic=lambda: next(clock)))
    with app.app_context():
        assert shipping.upload_pending() == {"uploaded": 1, "skipped": 0, "failed": 0}
    assert pending(dbx) == 1 and queued(app) == [SWEEP, SWEEP]  # the one the fulfilments rang, and a fresh one
    monkeypatch.undo()
    run_default_queue(app)
    assert pending(dbx) == 0 and len(uploads(wechat_sandbox)) == 2


def test_jobs_of_the_previous_release_still_upload_once(uploader, wechat_sandbox, app, dbx):
    from app.orders.tasks import upload_shipping_info

    paid(uploader, wechat_sandbox)
    order_id = dbx.one(select(Order)).id
    with app.app_context():
        enqueue_now(upload_shipping_info, order_id)
        enqueue_now(upload_shipping_info, order_id)
    run_default_queue(app)  # the doorbell sweep and both old-style jobs
    assert pending(dbx) == 0 and len(uploads(wechat_sandbox)) == 1


@pytest.mark.postgres
def test_an_order_another_sweep_is_uploading_is_skipped(uploader, wechat_sandbox, app, dbx):
    from app.extensions import db

    paid(uploader, wechat_sandbox)
    order_id = dbx.one(select(Order)).id
    with app.app_context():
        with db.engine.connect() as other_sweep:
            other_sweep.execute(text("SELECT id FROM orders WHERE id = :id FOR UPDATE"), {"id": order_id})
            assert shipping.upload_one(order_id) == "skipped"
            other_sweep.rollback()
        assert shipping.upload_one(order_id) == "uploaded"
        assert shipping.upload_one(order_id) == "skipped"
    assert len(uploads(wechat_sandbox)) == 1
