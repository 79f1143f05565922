import threading
import time

import pytest
from werkzeug.wrappers import Request, Response

from tests.conftest import serve_in_thread
from tests.generation.conftest import run_generation_queue, start_job, upload_ids
from tests.uploads.conftest import dbx, live_server, sample_jpeg, uploader  # noqa: F401 - shared fixtures

NOTIFY_PATH = "/api/v1/payments/wechat/notify"


@pytest.fixture(autouse=True)
def pay_config(app, wechat_sandbox, live_server):
    """Our merchant = the sandbox's development merchant; notifications come to the live server."""
    creds = wechat_sandbox.dev("pay/credentials", method="GET")
    saved = {key: app.config[key] for key in app.config if key.startswith("WECHAT_PAY_")}
    saved["CONTENT_CHECK_ENABLED"] = app.config["CONTENT_CHECK_ENABLED"]
    app.config.update(
        WECHAT_PAY_MCHID=creds["mchid"], WECHAT_PAY_PRIVATE_KEY=creds["merchant_private_key"],
        WECHAT_PAY_CERT_SERIAL=creds["merchant_cert_serial_no"], WECHAT_PAY_APIV3_KEY=creds["apiv3_key"],
        WECHAT_PAY_PUBLIC_KEY=creds["wechatpay_public_key"], WECHAT_PAY_PUBLIC_KEY_ID=creds["wechatpay_public_key_id"],
        WECHAT_PAY_PLATFORM_CERTS=creds["platform_certificate"], WECHAT_PAY_BASE_URL=wechat_sandbox.base_url,
        WECHAT_PAY_NOTIFY_URL=live_server + NOTIFY_PATH, CONTENT_CHECK_ENABLED=False)
    app.extensions.pop("wechatpay_merchant", None)
    app.extensions.pop("wechatpay_client", None)
    yield creds
    app.config.update(saved)
    app.extensions.pop("wechatpay_merchant", None)
    app.extensions.pop("wechatpay_client", None)


@pytest.fixture
def result_id(uploader, sample_jpeg, app) -> str:
    job = start_job(uploader, "pop_art", upload_ids(uploader, sample_jpeg))["data"]
    run_generation_queue(app)
    return uploader.get(f"/api/v1/jobs/{job['id']}").get_json()["data"]["results"][0]["id"]


def buy(phone, product, subject=None, expect=201) -> dict:
    response = phone.call("POST", "/api/v1/orders", json={"product": product, "subject": subject})
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def pay(wechat_sandbox, data: dict, user: str = "alice") -> dict:
    """The payer confirms in WeChat (the sandbox checks wx.requestPayment's paySign like WeChat)."""
    prepay_id = data["payment"]["package"].removeprefix("prepay_id=")
    return wechat_sandbox.dev("pay/pay", {"prepay_id": prepay_id, "user": user, "request_payment": data["payment"]})


def run_default_queue(app) -> None:
    """Run what is queued on ``default`` (refund submissions, shipping sweeps) in this process, then stop."""
    from rq import Queue

    from app.core.jobs import redis_connection
    from workers.base import AppSimpleWorker

    conn = redis_connection(app)
    AppSimpleWorker([Queue("default", connection=conn)], connection=conn, flask_app=app).work(burst=True)


def wait_for_order(phone, order_no, wanted, timeout=10.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        order = phone.get(f"/api/v1/orders/{order_no}").get_json()["data"]
        if order["status"] == wanted:
            return order
        time.sleep(0.05)
    raise AssertionError(f"order {order_no} is {order['status']}, not {wanted}")


class Capture:
    """A notify URL that records what WeChat sends and acknowledges it."""

    def __init__(self) -> None:
        self.received: list[tuple[dict, bytes]] = []
        self.event = threading.Event()

    def __call__(self, environ, start_response):
        request = Request(environ)
        self.received.append((dict(request.headers), request.get_data()))
        self.event.set()
        return Response(status=204)(environ, start_response)


@pytest.fixture
def capture(app):
    catcher = Capture()
    with serve_in_thread(catcher) as url:
        app.config["WECHAT_PAY_NOTIFY_URL"] = url + "/notify"
        app.extensions.pop("wechatpay_merchant", None)
        app.extensions.pop("wechatpay_client", None)
        yield catcher


__all__ = ["buy", "pay", "run_default_queue", "run_generation_queue", "wait_for_order"]
