"""Property tests of the WeChat Pay notification verifier (``app.orders.wechatpay.verify_notification``).

A correctly signed notification is accepted; any change to what WeChat Pay signed (the raw body,
the timestamp, the nonce), to the signature, to the key it names, or to the encrypted resource — even
re-signed with the genuine key, as a replay or a swapped resource would be — is rejected with
``NotificationRejected``, never accepted and never another exception.
"""

from __future__ import annotations

import base64
import contextlib
import json
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from app.orders.wechatpay import Merchant, NotificationRejected, verify_notification
from devkit.wechat_sandbox.pay.crypto import encrypt_resource, new_nonce, response_message, rsa_sign
from devkit.wechat_sandbox.pay.keys import generate_keys, private_pem

pytestmark = pytest.mark.fuzz

SETTINGS = settings(max_examples=75, deadline=None, suppress_health_check=list(HealthCheck))
SIGNED_HEADERS = ("Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature", "Wechatpay-Serial")
KEYS = generate_keys()
NOW = 1_790_000_000  # the verifier is given ``now``: the signed timestamps never age


@dataclass(frozen=True)
class Signer:
    serial: str
    key: object

    def headers(self, body: bytes, timestamp: int = NOW, nonce: str | None = None) -> dict[str, str]:
        nonce = nonce or new_nonce()
        signature = rsa_sign(self.key, response_message(str(timestamp), nonce, body.decode()))
        return {"Wechatpay-Timestamp": str(timestamp), "Wechatpay-Nonce": nonce, "Wechatpay-Signature": signature,
                "Wechatpay-Serial": self.serial, "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048"}


PUBLIC_KEY_MODE = Signer(KEYS.public_key_id, KEYS.public_key_private)
CERTIFICATE_MODE = Signer(KEYS.platform.serial_no, KEYS.platform.private_key)


def notification_body(out_trade_no: str = "MH20261129ABCDEF", total: int = 990) -> bytes:
    resource = {"mchid": KEYS.mchid, "appid": KEYS.appid, "out_trade_no": out_trade_no, "trade_state": "SUCCESS",
                "transaction_id": "4200000000202611290000000001", "amount": {"total": total, "currency": "CNY"}}
    envelope = {"id": "EV-2018022511223320873", "create_time": "2026-11-29T12:00:00+08:00",
                "resource_type": "encrypt-resource", "event_type": "TRANSACTION.SUCCESS", "summary": "支付成功",
                "resource": {"original_type": "transaction",
                             **encrypt_resource(KEYS.apiv3_key, json.dumps(resource), "transaction")}}
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()


BODY = notification_body()


@pytest.fixture(scope="module")
def verifier(app):
    """``verify_notification`` with this module's merchant keys, inside the app."""
    merchant = Merchant(mchid=KEYS.mchid, appid=KEYS.appid, private_key=private_pem(KEYS.merchant_private_key),
                        cert_serial=KEYS.merchant_serial_no, apiv3_key=KEYS.apiv3_key,
                        public_key=KEYS.public_key_pem, public_key_id=KEYS.public_key_id,
                        platform_certs=KEYS.platform.pem, notify_url="https://example.invalid/notify")

    def verify(headers: dict[str, str], body: bytes) -> dict:
        saved = app.extensions.get("wechatpay_merchant")
        app.extensions["wechatpay_merchant"] = merchant
        try:
            with app.app_context():
                return verify_notification(headers, body, now=NOW)
        finally:
            app.extensions.pop("wechatpay_merchant", None)
            if saved is not None:
                app.extensions["wechatpay_merchant"] = saved

    return verify


def rejected(verify, headers: dict[str, str], body: bytes) -> bool:
    try:
        verify(headers, body)
    except NotificationRejected:
        return True
    return False


@pytest.mark.parametrize("signer", [PUBLIC_KEY_MODE, CERTIFICATE_MODE], ids=["public_key", "platform_certificate"])
def test_a_correctly_signed_notification_is_accepted(verifier, signer):
    verified = verifier(signer.headers(BODY), BODY)
    assert verified["event_type"] == "TRANSACTION.SUCCESS"
    assert verified["resource"]["out_trade_no"] == "MH20261129ABCDEF" and verified["resource"]["amount"]["total"] == 990


@SETTINGS
@given(st.data())
def test_any_change_to_the_body_is_rejected(verifier, data):
    body = bytearray(BODY)
    kind = data.draw(st.sampled_from(["replace", "insert", "delete", "truncate", "append"]))
    position = data.draw(st.integers(0, len(body) - 1))
    if kind == "replace":
        body[position] = data.draw(st.integers(0, 255).filter(lambda b: b != BODY[position]))
    elif kind == "insert":
        body[position:position] = data.draw(st.binary(min_size=1, max_size=8))
    elif kind == "delete":
        del body[position:position + data.draw(st.integers(1, 8))]
    elif kind == "truncate":
        del body[position:]
    else:
        body += data.draw(st.binary(min_size=1, max_size=8))
    assert bytes(body) != BODY
    assert rejected(verifier, PUBLIC_KEY_MODE.headers(BODY), bytes(body))


@SETTINGS
@given(st.sampled_from(SIGNED_HEADERS), st.text(max_size=80), st.data())
def test_any_change_to_a_signed_header_is_rejected(verifier, name, value, data):
    headers = PUBLIC_KEY_MODE.headers(BODY)
    if name == "Wechatpay-Timestamp":
        value = data.draw(st.one_of(st.just(value), st.integers(NOW - 299, NOW + 299).map(str)))
    if name == "Wechatpay-Signature":
        genuine = base64.b64decode(headers[name])
        flipped = bytearray(genuine)
        flipped[data.draw(st.integers(0, len(genuine) - 1))] ^= data.draw(st.integers(1, 255))
        value = data.draw(st.one_of(st.just(value), st.just(base64.b64encode(bytes(flipped)).decode())))
        with contextlib.suppress(ValueError):  # same bytes, another spelling: the same signature
            assume(base64.b64decode(value) != genuine)
    assume(value != headers[name] and value.upper() != headers[name].upper())  # serials are case-insensitive
    headers[name] = value
    assert rejected(verifier, headers, BODY)


@SETTINGS
@given(st.sampled_from((*SIGNED_HEADERS, "Wechatpay-Signature-Type")), st.text(max_size=40))
def test_missing_headers_or_another_signature_type_are_rejected(verifier, name, other_type):
    headers = PUBLIC_KEY_MODE.headers(BODY)
    if name == "Wechatpay-Signature-Type":
        assume(other_type != "WECHATPAY2-SHA256-RSA2048")
        headers[name] = other_type
    else:
        del headers[name]
    assert rejected(verifier, headers, BODY)


@SETTINGS
@given(st.one_of(st.integers(NOW - 10**9, NOW - 301), st.integers(NOW + 301, NOW + 10**9)))
def test_a_genuine_signature_outside_the_time_window_is_rejected(verifier, timestamp):
    """A replay of an old notification (or one from the future) fails even though its signature is genuine."""
    assert rejected(verifier, PUBLIC_KEY_MODE.headers(BODY, timestamp=timestamp), BODY)


@SETTINGS
@given(st.sampled_from(["ciphertext", "nonce", "associated_data", "algorithm"]), st.text(max_size=60))
def test_a_changed_resource_is_rejected_even_when_re_signed(verifier, field, value):
    """Signed with the genuine key but not encrypted with our APIv3 key (or altered): the AEAD refuses it."""
    envelope = json.loads(BODY)
    assume(envelope["resource"][field] != value)
    envelope["resource"][field] = value
    body = json.dumps(envelope, separators=(",", ":")).encode()
    assert rejected(verifier, PUBLIC_KEY_MODE.headers(body), body)


def test_the_signing_test_probe_and_a_foreign_key_are_rejected(verifier):
    probe = PUBLIC_KEY_MODE.headers(BODY)
    probe["Wechatpay-Signature"] = "WECHATPAY/SIGNTEST/" + probe["Wechatpay-Signature"]
    assert rejected(verifier, probe, BODY)
    impostor = generate_keys()
    forged = Signer(KEYS.public_key_id, impostor.public_key_private).headers(BODY)  # our key id, their key
    assert rejected(verifier, forged, BODY)
    unknown = Signer(impostor.public_key_id, impostor.public_key_private).headers(BODY)
    assert rejected(verifier, unknown, BODY)
