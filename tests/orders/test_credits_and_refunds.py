"""Credits consumed by paid styles and returned when a job fails; refunds, partial and duplicated."""

import time

from sqlalchemy import select

from app.orders.models import Entitlement, Order, OrderEvent, Refund
from tests.generation.conftest import run_generation_queue, start_job, upload_ids
from tests.generation.test_jobs import Scripted
from tests.orders.conftest import buy, pay, run_default_queue, wait_for_order


def credits(phone) -> dict:
    return phone.get("/api/v1/orders").get_json()["data"]["credits"]


def test_a_paid_style_needs_a_credit_and_a_failed_job_gives_it_back(uploader, sample_jpeg, wechat_sandbox, app):
    ids = upload_ids(uploader, sample_jpeg)
    assert start_job(uploader, "living_photo", ids, expect=402)["error"]["code"] == "payment_required"
    data = buy(uploader, "video_generation")["data"]
    pay(wechat_sandbox, data)
    wait_for_order(uploader, data["order"]["order_no"], "fulfilled")
    assert credits(uploader) == {"video": 1}

    from workers.generators.base import register_generator

    register_generator("scripted", Scripted)
    Scripted.behaviour = "fail"
    app.config["GENERATION_BACKEND"] = "scripted"
    try:
        job = start_job(uploader, "living_photo", ids)["data"]
        assert credits(uploader) == {"video": 0}
        run_generation_queue(app)
    finally:
        app.config["GENERATION_BACKEND"] = "classical"
    assert uploader.get(f"/api/v1/jobs/{job['id']}").get_json()["data"]["status"] == "failed"
    assert credits(uploader) == {"video": 1}  # returned


def test_unused_credits_are_refunded_once_even_with_duplicate_notifications(uploader, wechat_sandbox, app, dbx):
    data = buy(uploader, "video_pack_5")["data"]
    pay(wechat_sandbox, data)
    order_no = data["order"]["order_no"]
    wait_for_order(uploader, order_no, "fulfilled")
    refunding = uploader.call("POST", f"/api/v1/orders/{order_no}/refund", json={"reason": "changed my mind"})
    assert refunding.status_code == 200 and refunding.get_json()["data"]["status"] == "refunding"
    assert credits(uploader) == {}  # revoked while the refund runs
    run_default_queue(app)  # submit_refund → WeChat Pay refund API
    refunded = wait_for_order(uploader, order_no, "refunded")
    assert refunded["refunded_fen"] == 7990 and refunded["payment_status"] == "refunded"
    refund_note = next(n for n in wechat_sandbox.dev("pay/notifications", method="GET")["notifications"]
                       if n["event_type"] == "REFUND.SUCCESS")
    wechat_sandbox.dev(f"pay/notifications/{refund_note['id']}/redeliver", {"count": 5, "concurrent": True})
    assert dbx.one(select(Order)).refunded_fen == 7990
    assert dbx.count(OrderEvent, OrderEvent.to_status == "refunded") == 1
    again = uploader.call("POST", f"/api/v1/orders/{order_no}/refund", json={"reason": "again"})
    assert again.status_code == 409


def test_used_credits_or_hd_downloads_are_not_self_refundable(uploader, wechat_sandbox):
    data = buy(uploader, "video_generation")["data"]
    pay(wechat_sandbox, data)
    order_no = data["order"]["order_no"]
    wait_for_order(uploader, order_no, "fulfilled")
    from sqlalchemy import update

    from tests.accounts.helpers import Db

    # spend the credit
    Db(uploader.client.application).execute(update(Entitlement).values(credits_used=1))
    refused = uploader.call("POST", f"/api/v1/orders/{order_no}/refund", json={"reason": "x"})
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "refund_not_allowed"


def test_a_failed_refund_restores_the_order_and_its_entitlement(uploader, wechat_sandbox, app, dbx):
    data = buy(uploader, "video_generation")["data"]
    pay(wechat_sandbox, data)
    order_no = data["order"]["order_no"]
    wait_for_order(uploader, order_no, "fulfilled")
    wechat_sandbox.dev("pay/refunds/plan", {"status": "CLOSED"})
    uploader.call("POST", f"/api/v1/orders/{order_no}/refund", json={"reason": "x"})
    run_default_queue(app)
    deadline = time.monotonic() + 10
    while dbx.one(select(Refund)).status not in ("closed",) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert dbx.one(select(Refund)).status == "closed"
    assert wait_for_order(uploader, order_no, "fulfilled")
    assert credits(uploader) == {"video": 1}


def test_a_payment_that_races_the_close_is_refunded_automatically(uploader, app, dbx):
    data = buy(uploader, "video_generation")["data"]
    order_no = data["order"]["order_no"]
    from sqlalchemy import update

    dbx.execute(update(Order).values(status="closed"))
    with app.app_context():
        from app.extensions import db
        from app.orders import services, wechatpay

        merchant = wechatpay.merchant()
        order = db.session.scalar(select(Order))
        payer = services.payer_openid(order.user_id)
        services.apply_paid_transaction({"out_trade_no": order_no, "mchid": merchant.mchid, "appid": merchant.appid,
                                         "amount": {"total": order.amount_fen, "currency": "CNY"},
                                         "payer": {"openid": payer}, "trade_state": "SUCCESS",
                                         "transaction_id": "4200000000000000001"}, "notification")
        db.session.commit()
    order = dbx.one(select(Order))
    assert order.status == "refunding" and dbx.count(Entitlement) == 0
    assert dbx.one(select(Refund)).reason == "paid_after_close"
