"""WeChat Pay API v3: the merchant client (wechatpayv3) and our own notification verifier.

The client is built lazily (in certificate mode wechatpayv3's constructor downloads certificates;
we use public-key mode, whose constructor makes no call) and pointed at ``WECHAT_PAY_BASE_URL``
(the library keeps its gateway in a private attribute). Always with a timeout.

Notifications are verified here, not by wechatpayv3's ``callback``, which does not check the
timestamp, may make a network call inside the handler and hides why it failed. We verify the
signature over the **raw body** first (public key ``PUB_KEY_ID_…`` or a platform certificate's
serial, both accepted during a switch-over), refuse probe signatures and timestamps more than
``PAY_NOTIFICATION_MAX_SKEW_S`` away, then decrypt the AEAD_AES_256_GCM resource. A platform-certificate
serial we do not know yet (WeChat rotated) is looked up through :mod:`.platform_certs` (shared copy,
then one rate-limited download); the previous public key (``PUB_KEY_ID_…``) is accepted until
``WECHAT_PAY_PREVIOUS_PUBLIC_KEY_UNTIL`` while WeChat switches keys.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask, current_app, url_for

log = logging.getLogger(__name__)

PROBE_PREFIX = "WECHATPAY/SIGNTEST/"


class PayUnavailable(Exception):
    """WeChat Pay could not be reached or answered something unexpected."""


class PayError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


class NotificationRejected(Exception):
    """Why a notification was refused (logged; WeChat gets a FAIL and retries)."""


@dataclass(frozen=True)
class Merchant:
    mchid: str
    appid: str
    private_key: str
    cert_serial: str
    apiv3_key: str
    public_key: str | None
    public_key_id: str | None
    platform_certs: str | None
    notify_url: str
    previous_public_key: str | None = None
    previous_public_key_id: str | None = None
    previous_public_key_until: float | None = None  # POSIX time the overlap ends


def sandbox_credentials(config: Any) -> dict[str, Any]:
    """The WeChat sandbox's development merchant, whose keys the sandbox shares in WECHAT_SANDBOX_PAY_KEYS_DIR.
    The sandbox lives in devkit/, which the production image leaves out: a staging deployment from the image
    sets WECHAT_PAY_* (the sandbox's keys) instead."""
    try:
        from devkit.wechat_sandbox.pay import dev_credentials
    except ModuleNotFoundError as missing:
        from app.config import ConfigError

        raise ConfigError(f"WECHAT_SANDBOX without WECHAT_PAY_MCHID needs the devkit package ({missing}); "
                          "set WECHAT_PAY_* to the sandbox merchant's keys") from missing
    return dev_credentials(config["WECHAT_SANDBOX_PAY_KEYS_DIR"], appid=config["WECHAT_APPID"])


def merchant(app: Flask | None = None) -> Merchant:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    cached = app.extensions.get("wechatpay_merchant")
    if cached is not None:
        return cached
    config = app.config
    values = {
        "mchid": config["WECHAT_PAY_MCHID"], "private_key": config["WECHAT_PAY_PRIVATE_KEY"],
        "cert_serial": config["WECHAT_PAY_CERT_SERIAL"], "apiv3_key": config["WECHAT_PAY_APIV3_KEY"],
        "public_key": config["WECHAT_PAY_PUBLIC_KEY"], "public_key_id": config["WECHAT_PAY_PUBLIC_KEY_ID"],
        "platform_certs": config["WECHAT_PAY_PLATFORM_CERTS"],
    }
    if not values["mchid"] and config["WECHAT_SANDBOX"]:
        creds = sandbox_credentials(config)
        values = {"mchid": creds["mchid"], "private_key": creds["merchant_private_key"],
                  "cert_serial": creds["merchant_cert_serial_no"], "apiv3_key": creds["apiv3_key"],
                  "public_key": creds["wechatpay_public_key"], "public_key_id": creds["wechatpay_public_key_id"],
                  "platform_certs": creds["platform_certificate"]}
    with app.test_request_context():
        default_notify = config["PUBLIC_BASE_URL"].rstrip("/") + url_for("payments.transaction_notification")
    until = config.get("WECHAT_PAY_PREVIOUS_PUBLIC_KEY_UNTIL")
    result = Merchant(appid=config["WECHAT_APPID"], notify_url=config["WECHAT_PAY_NOTIFY_URL"] or default_notify,
                      previous_public_key=config.get("WECHAT_PAY_PREVIOUS_PUBLIC_KEY"),
                      previous_public_key_id=config.get("WECHAT_PAY_PREVIOUS_PUBLIC_KEY_ID"),
                      previous_public_key_until=datetime.fromisoformat(until).timestamp() if until else None,
                      **values)
    app.extensions["wechatpay_merchant"] = result
    return result


def client(app: Flask | None = None):
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    pay = app.extensions.get("wechatpay_client")
    if pay is None:
        from wechatpayv3 import WeChatPay, WeChatPayType

        from . import pay_transport

        pay_transport.install()  # kept-alive urllib3 pools instead of a requests.post() per call
        m = merchant(app)
        pay = WeChatPay(wechatpay_type=WeChatPayType.MINIPROG, mchid=m.mchid, private_key=m.private_key,
                        cert_serial_no=m.cert_serial, appid=m.appid, apiv3_key=m.apiv3_key, notify_url=m.notify_url,
                        public_key=m.public_key, public_key_id=m.public_key_id, timeout=(3, 10))
        pay._core._gate_way = app.config["WECHAT_PAY_BASE_URL"].rstrip("/")
        app.extensions["wechatpay_client"] = pay
    return pay


def call(method: str, *args: Any, **kwargs: Any) -> dict:
    """Run a wechatpayv3 call; its (status, text) answer becomes a dict or a PayError/PayUnavailable."""
    import requests

    try:
        status, text = getattr(client(), method)(*args, **kwargs)
    except requests.RequestException as exc:
        raise PayUnavailable(f"WeChat Pay not reachable ({type(exc).__name__})") from exc
    except Exception as exc:  # wechatpayv3 raises a bare Exception when an answer's signature fails
        raise PayUnavailable(f"WeChat Pay answer refused: {exc}") from exc
    body: dict = {}
    if text:
        try:
            body = json.loads(text)
        except ValueError as exc:
            raise PayUnavailable("WeChat Pay answered something that is not JSON") from exc
    if 200 <= status < 300:
        return body
    if status >= 500 or status == 429:
        raise PayUnavailable(f"WeChat Pay answered {status} {body.get('code')}")
    raise PayError(status, body.get("code", "UNKNOWN"), body.get("message", ""))


def request_payment_params(prepay_id: str) -> dict[str, str]:
    """What ``wx.requestPayment`` needs; paySign = SHA256withRSA over appId, timeStamp, nonceStr, package."""
    m = merchant()
    timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
    package = f"prepay_id={prepay_id}"
    pay_sign = client().sign([m.appid, timestamp, nonce, package])
    return {"appId": m.appid, "timeStamp": timestamp, "nonceStr": nonce, "package": package, "signType": "RSA",
            "paySign": pay_sign}


# --- notifications --------------------------------------------------------------------------------

@functools.lru_cache(maxsize=8)
def _verification_keys(m: Merchant) -> dict[str, tuple[Any, float | None]]:
    """Serial → (public key, accepted until or None), parsed once per merchant settings (a PEM parse per
    notification is waste).

    Keyed by the (frozen, hashable) ``Merchant``: new settings, e.g. a rotated key, are a new entry.
    """
    keys: dict[str, tuple[Any, float | None]] = {}
    if m.previous_public_key and m.previous_public_key_id and m.previous_public_key_until:
        keys[m.previous_public_key_id] = (serialization.load_pem_public_key(m.previous_public_key.encode()),
                                          m.previous_public_key_until)
    if m.public_key and m.public_key_id:
        keys[m.public_key_id] = (serialization.load_pem_public_key(m.public_key.encode()), None)
    if m.platform_certs:
        for cert in x509.load_pem_x509_certificates(m.platform_certs.encode()):
            keys[format(cert.serial_number, "X")] = (cert.public_key(), None)
    return keys


def _verification_key(m: Merchant, serial: str, now: float) -> Any:
    """The key for ``serial``: configured, or a platform certificate learnt since (may download once)."""
    known = _verification_keys(m).get(serial) or _verification_keys(m).get(serial.upper())
    if known is not None:
        key, until = known
        if until is not None and now > until:
            raise NotificationRejected("serial of the previous public key, past its overlap")
        return key
    if serial.startswith("PUB_KEY_ID_"):
        raise NotificationRejected("unknown serial")  # public keys are configured, never downloaded
    from . import platform_certs

    key = platform_certs.key_for(m.mchid, serial, client)
    if key is None:
        raise NotificationRejected("unknown serial")
    return key


@functools.lru_cache(maxsize=8)
def _resource_cipher(apiv3_key: str) -> AESGCM:
    return AESGCM(apiv3_key.encode())


def verify_notification(headers: dict[str, str], raw_body: bytes, *, now: float | None = None) -> dict:
    """Verify a notification's signature over the raw body, then decrypt and return its resource."""
    m = merchant()
    timestamp = headers.get("Wechatpay-Timestamp", "")
    nonce = headers.get("Wechatpay-Nonce", "")
    signature = headers.get("Wechatpay-Signature", "")
    serial = headers.get("Wechatpay-Serial", "")
    if not (timestamp and nonce and signature and serial):
        raise NotificationRejected("missing signature headers")
    if signature.startswith(PROBE_PREFIX):
        raise NotificationRejected("probe signature")
    if headers.get("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048") != "WECHATPAY2-SHA256-RSA2048":
        raise NotificationRejected("unknown signature type")
    now = now or time.time()
    try:
        skew = abs(now - int(timestamp))
    except ValueError as exc:
        raise NotificationRejected("malformed timestamp") from exc
    if skew > current_app.config["PAY_NOTIFICATION_MAX_SKEW_S"]:
        raise NotificationRejected(f"timestamp {skew:.0f}s away")
    key = _verification_key(m, serial, now)
    message = timestamp.encode() + b"\n" + nonce.encode() + b"\n" + raw_body + b"\n"
    try:
        key.verify(base64.b64decode(signature), message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError) as exc:
        raise NotificationRejected("bad signature") from exc
    try:
        notification = json.loads(raw_body)
        resource = notification["resource"]
        if resource.get("algorithm") != "AEAD_AES_256_GCM":
            raise NotificationRejected("unknown algorithm")
        plaintext = _resource_cipher(m.apiv3_key).decrypt(
            resource["nonce"].encode(), base64.b64decode(resource["ciphertext"]),
            (resource.get("associated_data") or "").encode())
        return {"id": notification["id"], "event_type": notification["event_type"],
                "resource": json.loads(plaintext)}
    except NotificationRejected:
        raise
    except (ValueError, KeyError, TypeError, InvalidTag) as exc:
        raise NotificationRejected(f"cannot decrypt ({type(exc).__name__})") from exc
