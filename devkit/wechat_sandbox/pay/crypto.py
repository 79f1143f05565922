"""WeChat Pay API v3 cryptography: SHA256withRSA signatures, AEAD_AES_256_GCM resources, timestamps.

* request signature: ``METHOD\\nURL\\nTIMESTAMP\\nNONCE\\nBODY\\n`` (URL = path and query as sent),
  SHA256withRSA (PKCS#1 v1.5) with the merchant key, base64, in
  ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",signature="…",timestamp="…",serial_no="…"``;
* answer and notification signature: ``TIMESTAMP\\nNONCE\\nBODY\\n`` with WeChat Pay's key (public-key
  mode) or the platform certificate's key, in the ``Wechatpay-*`` headers;
* encrypted resources (notifications, ``/v3/certificates``): AES-256-GCM, key = the 32 ASCII bytes of
  the APIv3 key, a 12-character nonce, ``associated_data`` authenticated, ciphertext = base64(data + tag).
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import string
from datetime import datetime, timedelta, timezone

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

AUTH_SCHEME = "WECHATPAY2-SHA256-RSA2048"
AEAD_ALGORITHM = "AEAD_AES_256_GCM"
PROBE_SIGNATURE_PREFIX = "WECHATPAY/SIGNTEST/"
NONCE_ALPHABET = string.ascii_letters + string.digits
BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
AUTH_PARAMETER = re.compile(r'\s*([a-z_]+)="([^"]*)"\s*(?:,|$)')
AUTH_FIELDS = ("mchid", "nonce_str", "signature", "timestamp", "serial_no")


def new_nonce(length: int = 32) -> str:
    return "".join(secrets.choice(NONCE_ALPHABET) for _ in range(length))


def rsa_sign(private_key: RSAPrivateKey, message: str) -> str:
    """Base64 SHA256withRSA signature of the UTF-8 message."""
    signature = private_key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode()


def rsa_verify(public_key: RSAPublicKey, message: str, signature: str) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
        public_key.verify(raw, message.encode(), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def request_message(method: str, url: str, timestamp: str, nonce: str, body: str) -> str:
    return f"{method}\n{url}\n{timestamp}\n{nonce}\n{body}\n"


def response_message(timestamp: str, nonce: str, body: str) -> str:
    return f"{timestamp}\n{nonce}\n{body}\n"


def parse_authorization(header: str | None) -> dict[str, str]:
    """The five fields of a v3 ``Authorization`` header; ValueError names what is wrong."""
    if not header:
        raise ValueError("Http头缺少Authorization")
    scheme, _, rest = header.strip().partition(" ")
    if scheme != AUTH_SCHEME:
        raise ValueError(f"错误的签名认证类型 {scheme[:40]!r}，应为 {AUTH_SCHEME}")
    fields: dict[str, str] = {}
    position = 0
    rest = rest.strip()
    while position < len(rest):
        match = AUTH_PARAMETER.match(rest, position)
        if match is None:
            raise ValueError("Http头Authorization值格式错误")
        fields[match.group(1)] = match.group(2)
        position = match.end()
    missing = [name for name in AUTH_FIELDS if not fields.get(name)]
    if missing:
        raise ValueError(f"Http头Authorization缺少{', '.join(missing)}")
    return fields


def encrypt_resource(apiv3_key: str, plaintext: str, associated_data: str) -> dict[str, str]:
    """``{algorithm, ciphertext, associated_data, nonce}`` as WeChat puts in notifications."""
    nonce = new_nonce(12)
    sealed = AESGCM(apiv3_key.encode()).encrypt(nonce.encode(), plaintext.encode(), associated_data.encode())
    return {
        "algorithm": AEAD_ALGORITHM,
        "ciphertext": base64.b64encode(sealed).decode(),
        "associated_data": associated_data,
        "nonce": nonce,
    }


def decrypt_resource(apiv3_key: str, nonce: str, ciphertext: str, associated_data: str) -> str | None:
    """The plaintext, or None when the key, nonce, data or tag do not match."""
    try:
        opened = AESGCM(apiv3_key.encode()).decrypt(
            nonce.encode(), base64.b64decode(ciphertext), associated_data.encode())
    except (InvalidTag, binascii.Error, ValueError):
        return None
    return opened.decode()


def rfc3339(timestamp: float) -> str:
    """WeChat's time format, Beijing time: ``2021-12-12T17:26:44+08:00``."""
    return datetime.fromtimestamp(int(timestamp), BEIJING).isoformat(timespec="seconds")


def parse_rfc3339(text: str) -> float:
    """Seconds since the epoch for ``yyyy-MM-DDTHH:mm:ss+TIMEZONE``; ValueError without a zone."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("time zone missing")
    return moment.timestamp()
