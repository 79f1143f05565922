"""WeChat Pay notifications as a backend receives them: signature over the raw body, AES-GCM resource,
WeChat's retry schedule (compressed), timeouts, duplicates (concurrent), probes, and wechatpayv3's
``callback`` helper."""

from __future__ import annotations

import dataclasses
import itertools
import json
import time

import pytest
from cryptography.exceptions import InvalidSignature

from devkit.wechat_sandbox import SandboxSettings, create_sandbox_app
from devkit.wechat_sandbox.pay.crypto import response_message, rsa_sign
from devkit.wechat_sandbox.pay.settings import WECHAT_RETRY_DELAYS, PaySettings

from .conftest import PayReceiver, RunningSandbox, open_notification, sandbox_wechatpay, serve


@pytest.fixture
def pay_settings(pay_keys_dir, pay_receiver) -> PaySettings:
    """This module's receivers must answer within 0.3 s."""
    return PaySettings(keys_dir=pay_keys_dir, notify_url=pay_receiver.notify_url, refund_delay=0.05,
                       notify_time_scale=0.001, notify_timeout=0.3)


def paid(wxpay, sandbox: RunningSandbox, openid: str, out_trade_no: str = "ORDER-N1") -> str:
    """Order and pay; returns the TRANSACTION.SUCCESS notification id."""
    wxpay.pay(description="会员月卡", out_trade_no=out_trade_no, amount={"total": 1500}, payer={"openid": openid})
    return sandbox.dev("pay/pay", {"out_trade_no": out_trade_no, "user": "alice"})["notification_id"]


def delivery(sandbox: RunningSandbox, notification_id: str, status: str | None = None, timeout: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        (found,) = [n for n in sandbox.dev("pay/notifications")["notifications"] if n["id"] == notification_id]
        if status is None or found["status"] == status or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def test_backend_verifies_the_raw_body_and_decrypts(wxpay, alice_openid, pay_sandbox, pay_receiver, pay_credentials):
    notification_id = paid(wxpay, pay_sandbox, alice_openid)

    (received,) = pay_receiver.wait_for(1)
    envelope, resource = open_notification(received, pay_credentials)
    reserialised = json.dumps(json.loads(received.body)).encode()  # what a framework's request.json gives back

    assert envelope["id"] == notification_id and envelope["create_time"].endswith("+08:00")
    assert len(envelope["resource"]["nonce"]) == 12 and envelope["resource"]["algorithm"] == "AEAD_AES_256_GCM"
    assert "支付成功".encode() in received.body  # UTF-8 as sent: the signature covers these bytes
    assert resource["out_trade_no"] == "ORDER-N1" and resource["amount"]["total"] == 1500
    assert (resource["mchid"], resource["appid"]) == (pay_credentials["mchid"], pay_credentials["appid"])
    with pytest.raises(InvalidSignature):
        open_notification(dataclasses.replace(received, body=reserialised), pay_credentials)
    assert delivery(pay_sandbox, notification_id, "delivered")["attempts"][0]["status_code"] == 204


def test_wechatpayv3_callback_verifies_and_decrypts(wxpay, alice_openid, pay_sandbox, pay_receiver):
    paid(wxpay, pay_sandbox, alice_openid)
    (received,) = pay_receiver.wait_for(1)

    result = wxpay.callback(received.headers, received.body)
    tampered = received.body.replace(b'"summary":"', b'"summary":" ')

    assert result["event_type"] == "TRANSACTION.SUCCESS"
    assert result["resource"]["out_trade_no"] == "ORDER-N1" and result["resource"]["trade_state"] == "SUCCESS"
    assert wxpay.callback(received.headers, tampered) is None


def test_wechatpayv3_callback_does_not_check_the_timestamp(wxpay, alice_openid, pay_sandbox, pay_receiver, pay_state):
    """A notification signed an hour ago (a replay) still passes wechatpayv3's callback: check it yourself."""
    paid(wxpay, pay_sandbox, alice_openid)
    (received,) = pay_receiver.wait_for(1)
    keys = pay_state.keys
    old = str(int(time.time()) - 3600)
    headers = {**received.headers, "Wechatpay-Timestamp": old,
               "Wechatpay-Signature": rsa_sign(keys.public_key_private, response_message(
                   old, received.headers["Wechatpay-Nonce"], received.body.decode()))}

    assert wxpay.callback(headers, received.body)["resource"]["out_trade_no"] == "ORDER-N1"


def test_retries_until_acknowledged_on_wechats_schedule(wxpay, alice_openid, pay_sandbox, pay_receiver):
    pay_receiver.statuses.extend([500, 503, 404])
    notification_id = paid(wxpay, pay_sandbox, alice_openid)

    received = pay_receiver.wait_for(4)
    record = delivery(pay_sandbox, notification_id, "delivered")
    gaps = [later.received_at - earlier.received_at for earlier, later in itertools.pairwise(received)]

    assert [attempt["status_code"] for attempt in record["attempts"]] == [500, 503, 404, 204]
    assert [attempt["attempt"] for attempt in record["attempts"]] == [1, 2, 3, 4]
    assert {n.body for n in received} == {received[0].body}  # the same body every time
    assert len({n.headers["Wechatpay-Nonce"] for n in received}) == 4  # freshly signed every time
    assert gaps[0] >= 0.015 * 0.9 and gaps[1] >= 0.015 * 0.9 and gaps[2] >= 0.030 * 0.9  # 15 s, 15 s, 30 s × 0.001
    time.sleep(0.3)
    assert len(pay_receiver.notifications) == 4  # acknowledged: no more attempts


def test_a_slow_answer_is_a_failure(wxpay, alice_openid, pay_sandbox, pay_receiver):
    pay_receiver.delays.append(0.6)  # longer than notify_timeout (0.3 s here, 5 s at WeChat)
    notification_id = paid(wxpay, pay_sandbox, alice_openid)

    record = delivery(pay_sandbox, notification_id, "delivered")

    assert record["attempts"][0]["error"].startswith(("ReadTimeout", "ConnectionError"))
    assert record["attempts"][0]["acknowledged"] is False and len(record["attempts"]) == 2


def test_the_whole_schedule_then_failed(pay_settings, pay_credentials, alice_openid):
    """Sixteen attempts (the first + WeChat's 15 retries), then the notification is failed."""
    receiver = PayReceiver(default_status=500)
    with serve(receiver) as receiver_url:
        receiver.url = receiver_url
        settings = dataclasses.replace(pay_settings, notify_time_scale=0.00001, notify_url=receiver.notify_url)
        sandbox_app = create_sandbox_app(SandboxSettings(pay=settings))
        with serve(sandbox_app) as url:
            sandbox = RunningSandbox(url=url, state=sandbox_app.extensions["wechat_sandbox"])
            client = sandbox_wechatpay(url, pay_credentials, notify_url=receiver.notify_url)
            started = time.monotonic()
            notification_id = paid(client, sandbox, alice_openid, "ORDER-N2")
            record = delivery(sandbox, notification_id, "failed", timeout=10)

    assert record["status"] == "failed" and len(record["attempts"]) == len(WECHAT_RETRY_DELAYS) + 1 == 16
    assert time.monotonic() - started >= sum(WECHAT_RETRY_DELAYS) * 0.00001  # about 24 h at WeChat
    assert len(receiver.notifications) == 16


def test_concurrent_duplicates(wxpay, alice_openid, pay_sandbox, pay_receiver, pay_credentials):
    notification_id = paid(wxpay, pay_sandbox, alice_openid)
    pay_receiver.wait_for(1)

    copies = pay_sandbox.dev(f"pay/notifications/{notification_id}/redeliver", {"count": 5, "concurrent": True})
    received = pay_receiver.wait_for(6)[1:]

    assert len(copies["attempts"]) == 5
    assert all(attempt["acknowledged"] and attempt["kind"] == "duplicate" for attempt in copies["attempts"])
    assert max(n.received_at for n in received) - min(n.received_at for n in received) < 0.5
    assert {open_notification(n, pay_credentials)[0]["id"] for n in received} == {notification_id}
    assert len(delivery(pay_sandbox, notification_id)["attempts"]) == 6


def test_probe_is_refused_by_a_verifying_backend(wxpay, alice_openid, pay_sandbox, pay_receiver):
    order_id = "ORDER-N3"
    wxpay.pay(description="会员", out_trade_no=order_id, amount={"total": 1}, payer={"openid": alice_openid})
    pay_receiver.verifier = lambda headers, body: wxpay.callback(headers, body) is not None

    refused = pay_sandbox.dev("pay/notifications/probe", {"out_trade_no": order_id})
    pay_receiver.verifier = None
    accepted = pay_sandbox.dev("pay/notifications/probe", {})

    (first, _) = pay_receiver.wait_for(2)
    assert first.headers["Wechatpay-Signature"].startswith("WECHATPAY/SIGNTEST/")
    assert refused["status_code"] == 401 and refused["acknowledged"] is False
    assert accepted["acknowledged"] is True  # this receiver would accept forged payments
    assert delivery(pay_sandbox, accepted["notification_id"])["status"] == "probe_accepted"
    assert delivery(pay_sandbox, refused["notification_id"])["status"] == "probe_rejected"


def test_callback_in_public_key_mode_downloads_certificates_when_the_serial_is_a_certificate(
        wxpay, alice_openid, pay_sandbox, pay_receiver):
    wxpay.pay(description="会员", out_trade_no="ORDER-N5", amount={"total": 1}, payer={"openid": alice_openid})
    pay_sandbox.dev("pay/signing", {"mode": "certificate"})
    pay_sandbox.dev("pay/pay", {"out_trade_no": "ORDER-N5"})
    (received,) = pay_receiver.wait_for(1)
    assert wxpay._core._certificates == []

    assert wxpay.callback(received.headers, received.body)["resource"]["trade_state"] == "SUCCESS"
    assert len(wxpay._core._certificates) == 1  # fetched GET /v3/certificates from inside the handler


def test_reset_stops_pending_deliveries(pay_settings, pay_credentials, alice_openid):
    receiver = PayReceiver(default_status=500)
    with serve(receiver) as receiver_url:
        receiver.url = receiver_url
        settings = dataclasses.replace(pay_settings, notify_retry_delays=(0.3, 0.3), notify_time_scale=1.0,
                                       notify_url=receiver.notify_url)
        sandbox_app = create_sandbox_app(SandboxSettings(pay=settings))
        with serve(sandbox_app) as url:
            sandbox = RunningSandbox(url=url, state=sandbox_app.extensions["wechat_sandbox"])
            client = sandbox_wechatpay(url, pay_credentials, notify_url=receiver.notify_url)
            paid(client, sandbox, alice_openid, "ORDER-N4")
            receiver.wait_for(1)
            assert sandbox.dev("reset", {}) == {"reset": True}
            time.sleep(0.5)

    assert len(receiver.notifications) == 1
    assert sandbox_app.extensions["wechat_sandbox_pay"].notifier.list() == []
