"""WeChat Pay fails while the user starts paying (the sandbox's WeChat Pay fault injection).

What the user sees: ``503 payment_unavailable``. Nothing is half-done: the prepay is asked before the
order is written, so a failed one leaves no order, no money, no credit; ordering again once WeChat Pay
answers makes one order under a new number (when WeChat Pay had made a prepay whose answer was lost,
that number stays unpaid there until it expires: nobody got its paySign). Besides WeChat Pay's own
errors, a gateway that answers garbage (an HTML error page, an unsigned body) is refused the same way.
A 10 s read timeout (the WeChat Pay client's) is not tried: 10 s of test time for the path of a 5xx.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from werkzeug.wrappers import Response

from app.orders.models import Order
from tests.conftest import serve_in_thread
from tests.orders.conftest import pay_config  # noqa: F401 - autouse: WeChat Pay against the sandbox

pytestmark = pytest.mark.faults


def error_code(response) -> str:
    assert response.is_json, response.get_data(as_text=True)
    return response.get_json()["error"]["code"]


@pytest.mark.parametrize("when", ["before", "after"])
def test_prepay_when_wechat_pay_fails_leaves_no_order_and_ordering_again_works(uploader, wechat_sandbox, dbx, when):
    """``before``: WeChat Pay never saw it; ``after``: it made the prepay_id but the answer was lost."""
    wechat_sandbox.dev("pay/faults", {"path": "/v3/pay/transactions/jsapi", "code": "SYSTEM_ERROR", "when": when,
                                      "delay": 0})
    response = uploader.call("POST", "/api/v1/orders", json={"product": "avatar_creation"})
    assert response.status_code == 503 and error_code(response) == "payment_unavailable"
    assert dbx.count(Order) == 0  # nothing written, nothing paid, nothing granted
    listed = uploader.get("/api/v1/orders").get_json()["data"]
    assert listed["orders"] == [] and listed["credits"].get("avatar", 0) == 0
    failed_at_wechat_pay = wechat_sandbox.dev("pay/transactions", method="GET")["transactions"]
    assert len(failed_at_wechat_pay) == (1 if when == "after" else 0)

    again = uploader.call("POST", "/api/v1/orders", json={"product": "avatar_creation"})  # WeChat Pay is back
    assert again.status_code == 201, again.get_json()
    order = dbx.one(select(Order))
    assert again.get_json()["data"]["order"]["order_no"] == order.out_trade_no
    assert order.status == "created" and order.prepay_id
    at_wechat_pay = [t for t in wechat_sandbox.dev("pay/transactions", method="GET")["transactions"]
                     if t["out_trade_no"] == order.out_trade_no]
    assert len(at_wechat_pay) == 1 and at_wechat_pay[0]["prepay_id"] == order.prepay_id
    assert order.out_trade_no not in {t["out_trade_no"] for t in failed_at_wechat_pay}  # a new number


@pytest.mark.parametrize(("status", "body", "content_type"), [
    (200, b"<html><body>upstream gateway</body></html>", "text/html"),
    (502, b"<html><body>502 Bad Gateway</body></html>", "text/html"),
    (200, b'{"prepay_id": "wx-not-signed-by-wechat-pay"}', "application/json"),
], ids=["html-200", "html-502", "unsigned-json"])
def test_a_gateway_answering_garbage_is_payment_unavailable(uploader, app, dbx, status, body, content_type):
    garbage = Response(body, status=status, content_type=content_type)
    with serve_in_thread(garbage) as url:
        saved = app.config["WECHAT_PAY_BASE_URL"]
        app.config["WECHAT_PAY_BASE_URL"] = url
        app.extensions.pop("wechatpay_client", None)
        try:
            response = uploader.call("POST", "/api/v1/orders", json={"product": "avatar_creation"})
        finally:
            app.config["WECHAT_PAY_BASE_URL"] = saved
            app.extensions.pop("wechatpay_client", None)
    assert response.status_code == 503 and error_code(response) == "payment_unavailable"
    assert dbx.count(Order) == 0
