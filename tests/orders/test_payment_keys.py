"""Notifications against every field the order fixes, and across WeChat Pay's key and certificate rotations.

Notifications here are signed for real: by the sandbox itself, or re-signed with the sandbox's own WeChat
Pay private key (``sandbox_pub_key_private.pem`` in its keys directory) after changing one field, which is
exactly what "a validly signed notification with other content" means.
"""

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from app.orders import platform_certs
from app.orders.models import Entitlement, Order
from devkit.wechat_sandbox.pay.crypto import decrypt_resource, encrypt_resource, new_nonce, response_message, rsa_sign
from devkit.wechat_sandbox.pay.keys import PUBLIC_KEY_PRIVATE_FILE, new_rsa_key, public_pem
from tests.orders.conftest import NOTIFY_PATH, buy, pay, wait_for_order


@pytest.fixture(autouse=True)
def _nothing_learnt():
    platform_certs.forget_learnt()
    yield
    platform_certs.forget_learnt()


@pytest.fixture
def downloads(monkeypatch):
    """Counts certificate downloads (the real download still runs)."""
    calls: list[int] = []
    real = platform_certs.download

    def counting(pay_client):
        calls.append(1)
        return real(pay_client)

    monkeypatch.setattr(platform_certs, "download", counting)
    return calls


def _sandbox_signing_key(creds):
    pem = (Path(creds["keys_dir"]) / PUBLIC_KEY_PRIVATE_FILE).read_bytes()
    return serialization.load_pem_private_key(pem, password=None)


def signed(body: str, key, serial: str) -> dict[str, str]:
    timestamp, nonce = str(int(time.time())), new_nonce()
    return {"Content-Type": "application/json", "Wechatpay-Timestamp": timestamp, "Wechatpay-Nonce": nonce,
            "Wechatpay-Serial": serial, "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
            "Wechatpay-Signature": rsa_sign(key, response_message(timestamp, nonce, body))}


def resigned(creds, body: bytes, change, key=None, serial=None) -> tuple[dict[str, str], str]:
    """The notification with its transaction changed by ``change``, encrypted and signed again."""
    envelope = json.loads(body)
    resource = envelope["resource"]
    transaction = json.loads(decrypt_resource(creds["apiv3_key"], resource["nonce"], resource["ciphertext"],
                                              resource["associated_data"]))
    change(transaction)
    envelope["resource"] = {"original_type": resource["original_type"],
                            **encrypt_resource(creds["apiv3_key"], json.dumps(transaction), "transaction")}
    text = json.dumps(envelope)
    return signed(text, key or _sandbox_signing_key(creds), serial or creds["wechatpay_public_key_id"]), text


def _captured(uploader, wechat_sandbox, capture, product="video_pack_5"):
    pay(wechat_sandbox, buy(uploader, product)["data"])
    assert capture.event.wait(10)
    return capture.received[0]


@pytest.mark.parametrize("field", ["currency", "payer", "appid", "mchid", "amount"])
def test_a_validly_signed_notification_that_differs_from_the_order_is_refused(
        uploader, wechat_sandbox, capture, client, dbx, pay_config, caplog, field):
    headers, body = _captured(uploader, wechat_sandbox, capture)
    changes = {
        "currency": lambda t: t["amount"].update(currency="USD"),
        "payer": lambda t: t["payer"].update(openid="o-someone-else-entirely"),
        "appid": lambda t: t.update(appid="wx0000000000000000"),
        "mchid": lambda t: t.update(mchid="1999999999"),
        "amount": lambda t: t["amount"].update(total=t["amount"]["total"] - 1),
    }
    forged_headers, forged = resigned(pay_config, body, changes[field])
    response = client.post(NOTIFY_PATH, data=forged, headers=forged_headers)
    assert response.status_code == 400 and response.get_json() == {"code": "FAIL", "message": "rejected"}
    assert dbx.one(select(Order)).status == "created" and dbx.count(Entitlement) == 0
    assert any(getattr(r, "reason", "").endswith(field) or field in getattr(r, "reason", "")
               for r in caplog.records if r.getMessage() == "payment notification rejected")
    # The genuine notification, unchanged, still fulfils: only the mismatch was refused.
    assert client.post(NOTIFY_PATH, data=body, headers=headers).status_code == 204
    assert dbx.one(select(Order)).status == "fulfilled" and dbx.count(Entitlement) == 1


def test_a_usd_notification_for_a_cny_order_is_refused_by_the_query_path_too(uploader, wechat_sandbox, capture,
                                                                             dbx, app, pay_config):
    """The fallback (query job) applies the same checks as the notification handler."""
    from app.extensions import db
    from app.orders import services, wechatpay

    _headers, body = _captured(uploader, wechat_sandbox, capture)
    resource = json.loads(body)["resource"]
    transaction = json.loads(decrypt_resource(pay_config["apiv3_key"], resource["nonce"], resource["ciphertext"],
                                              resource["associated_data"]))
    transaction["amount"]["currency"] = "USD"
    with app.test_request_context():
        with pytest.raises(wechatpay.NotificationRejected, match="currency"):
            services.apply_paid_transaction(transaction, "query")
        db.session.rollback()
    assert dbx.one(select(Order)).status == "created" and dbx.count(Entitlement) == 0


def test_after_a_platform_certificate_rotation_the_genuine_notification_is_accepted_at_once(
        uploader, wechat_sandbox, dbx, downloads):
    wechat_sandbox.dev("pay/signing", {"mode": "certificate"})
    new_serial = wechat_sandbox.dev("pay/platform-certificates")["serial_no"]
    data = buy(uploader, "video_pack_5")["data"]
    paid = pay(wechat_sandbox, data)
    wait_for_order(uploader, data["order"]["order_no"], "fulfilled")
    delivery = wechat_sandbox.pay_notification(paid["notification_id"], "delivered")  # answered after the commit
    assert delivery["status"] == "delivered" and len(delivery["attempts"]) == 1  # no retry was needed
    assert dbx.count(Entitlement) == 1
    assert new_serial and len(downloads) <= 2  # the client's answers and the notification: one minute, one download


def test_an_unknown_serial_is_refused_after_one_refresh_and_refreshes_are_rate_limited(
        uploader, wechat_sandbox, capture, client, dbx, app, pay_config, downloads):
    from app.core.jobs import redis_connection

    _headers, body = _captured(uploader, wechat_sandbox, capture)
    impostor = new_rsa_key()
    forged_headers, forged = resigned(pay_config, body, lambda t: None, key=impostor, serial="7A" * 20)
    assert client.post(NOTIFY_PATH, data=forged, headers=forged_headers).status_code == 400
    assert len(downloads) == 1  # refreshed once, serial still unknown: refused
    assert client.post(NOTIFY_PATH, data=forged, headers=forged_headers).status_code == 400
    assert len(downloads) == 1  # within the interval: no second download

    # WeChat rotates while the refresh is still rate limited: its notification waits (WeChat retries) …
    new_serial = wechat_sandbox.dev("pay/platform-certificates")["serial_no"]
    wechat_sandbox.dev("pay/signing", {"mode": "certificate"})
    notification_id = json.loads(body)["id"]
    wechat_sandbox.dev(f"pay/notifications/{notification_id}/redeliver", {})  # to the catcher, signed anew
    rotated_headers, rotated_body = capture.received[-1]
    assert rotated_headers["Wechatpay-Serial"] == new_serial and rotated_body == body
    assert client.post(NOTIFY_PATH, data=rotated_body, headers=rotated_headers).status_code == 400
    assert len(downloads) == 1 and dbx.one(select(Order)).status == "created"
    # … and is accepted once the interval has passed (the lock expires in Redis).
    redis_connection(app).delete(f"wechatpay:platform-certs:refresh:{pay_config['mchid']}")
    assert client.post(NOTIFY_PATH, data=rotated_body, headers=rotated_headers).status_code == 204
    assert len(downloads) == 2 and dbx.one(select(Order)).status == "fulfilled"


def test_certificates_learnt_by_one_process_serve_the_others(uploader, wechat_sandbox, dbx, downloads):
    wechat_sandbox.dev("pay/signing", {"mode": "certificate"})
    wechat_sandbox.dev("pay/platform-certificates")
    first = buy(uploader, "video_pack_5")["data"]
    pay(wechat_sandbox, first)
    wait_for_order(uploader, first["order"]["order_no"], "fulfilled")
    fetched = len(downloads)
    platform_certs.forget_learnt()  # another process: nothing learnt locally, the Redis copy is there
    second = buy(uploader, "video_pack_5")["data"]
    pay(wechat_sandbox, second)
    wait_for_order(uploader, second["order"]["order_no"], "fulfilled")
    assert len(downloads) == fetched


@pytest.mark.parametrize("overlap", ["open", "over"])
def test_the_previous_public_key_is_accepted_during_the_configured_overlap(
        uploader, wechat_sandbox, capture, client, dbx, app, pay_config, overlap):
    """WeChat switches public keys: ours is the new one, the sandbox still signs with the old one."""
    headers, body = _captured(uploader, wechat_sandbox, capture)
    new_key = new_rsa_key()
    until = datetime.now(UTC) + (timedelta(hours=1) if overlap == "open" else -timedelta(seconds=1))
    app.config.update(
        WECHAT_PAY_PUBLIC_KEY=public_pem(new_key.public_key()), WECHAT_PAY_PUBLIC_KEY_ID="PUB_KEY_ID_0199NEWKEY",
        WECHAT_PAY_PREVIOUS_PUBLIC_KEY=pay_config["wechatpay_public_key"],
        WECHAT_PAY_PREVIOUS_PUBLIC_KEY_ID=pay_config["wechatpay_public_key_id"],
        WECHAT_PAY_PREVIOUS_PUBLIC_KEY_UNTIL=until.isoformat())
    app.extensions.pop("wechatpay_merchant", None)
    try:
        old_key_answer = client.post(NOTIFY_PATH, data=body, headers=headers)
        if overlap == "open":
            assert old_key_answer.status_code == 204
            assert dbx.one(select(Order)).status == "fulfilled"
        else:
            assert old_key_answer.status_code == 400
            assert dbx.one(select(Order)).status == "created"
            # The new key is accepted whatever the overlap.
            new_headers, new_body = resigned(pay_config, body, lambda t: None, key=new_key,
                                             serial="PUB_KEY_ID_0199NEWKEY")
            assert client.post(NOTIFY_PATH, data=new_body, headers=new_headers).status_code == 204
            assert dbx.one(select(Order)).status == "fulfilled"
    finally:
        for name in ("WECHAT_PAY_PREVIOUS_PUBLIC_KEY", "WECHAT_PAY_PREVIOUS_PUBLIC_KEY_ID",
                     "WECHAT_PAY_PREVIOUS_PUBLIC_KEY_UNTIL"):
            app.config[name] = None
        app.extensions.pop("wechatpay_merchant", None)
