"""WeChat Pay platform certificates learnt after start-up, for notifications signed after a rotation.

WeChat rotates its platform certificate and signs with the new one at once; the configured
``WECHAT_PAY_PLATFORM_CERTS`` then no longer names the serial. When a notification's serial is unknown,
the verifier asks :func:`key_for` here, which looks in what this process or another one already learnt
(a Redis hash per merchant, serial → PEM), then downloads ``GET /v3/certificates`` through the merchant
client — wechatpayv3's own download, AEAD_AES_256_GCM under the APIv3 key and validity check, the same
the client uses for its answers — at most once per ``WECHAT_PAY_CERT_REFRESH_INTERVAL_S`` for all
processes together (``SET NX EX`` in Redis; per process if Redis is down). A forged serial therefore
costs WeChat at most one download a minute, and a serial still unknown after the download is refused.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from flask import current_app
from redis.exceptions import RedisError

from app.core.jobs import redis_connection

log = logging.getLogger(__name__)

KEEP_S = 30 * 86400  # the shared copy expires when no refresh has happened for this long

_learnt: dict[tuple[str, str], Any] = {}  # (mchid, serial) → public key, in this process
_local_refresh: dict[str, float] = {}  # mchid → monotonic time of the last download here (Redis down)
_lock = threading.Lock()


def _certs_key(mchid: str) -> str:
    return f"wechatpay:platform-certs:{mchid}"


def _refresh_key(mchid: str) -> str:
    return f"wechatpay:platform-certs:refresh:{mchid}"


def _valid_now(certificate: x509.Certificate) -> bool:
    now = datetime.now(UTC)
    return certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc


def _remember(mchid: str, certificate: x509.Certificate) -> str:
    serial = format(certificate.serial_number, "X")
    with _lock:
        _learnt[(mchid, serial)] = certificate.public_key()
    return serial


def _from_shared(mchid: str, serial: str) -> Any | None:
    try:
        pem = redis_connection().hget(_certs_key(mchid), serial)
    except RedisError:
        log.warning("platform certificates: Redis not reachable, shared copy skipped")
        return None
    if not pem:
        return None
    certificate = x509.load_pem_x509_certificate(pem)
    if not _valid_now(certificate):
        return None
    _remember(mchid, certificate)
    return certificate.public_key()


def _may_download(mchid: str) -> bool:
    """One download per interval for all processes; False while another one is recent."""
    interval = current_app.config["WECHAT_PAY_CERT_REFRESH_INTERVAL_S"]
    try:
        return bool(redis_connection().set(_refresh_key(mchid), str(time.time()), nx=True, ex=max(interval, 1)))
    except RedisError:
        now = time.monotonic()
        with _lock:
            if now - _local_refresh.get(mchid, -interval - 1) < interval:
                return False
            _local_refresh[mchid] = now
        return True


def download(pay_client: Any) -> list[x509.Certificate]:
    """The platform certificates WeChat lists now (decrypted and date-checked by wechatpayv3)."""
    core = pay_client._core  # wechatpayv3 keeps its certificate download on the core object
    core._update_certificates()
    return [certificate for certificate in core._certificates if _valid_now(certificate)]


def refresh(mchid: str, pay_client_factory: Any) -> int | None:
    """Download the platform certificates (if the rate limit allows) and share them; None if not now."""
    if not _may_download(mchid):
        return None
    try:
        certificates = download(pay_client_factory())
    except Exception as exc:  # requests errors, or wechatpayv3's bare Exception
        log.warning("platform certificates: download failed", extra={"error": f"{type(exc).__name__}: {exc}"})
        return 0
    shared = {_remember(mchid, c): c.public_bytes(serialization.Encoding.PEM) for c in certificates}
    if shared:
        try:
            pipe = redis_connection().pipeline()
            pipe.hset(_certs_key(mchid), mapping=shared)
            pipe.expire(_certs_key(mchid), KEEP_S)
            pipe.execute()
        except RedisError:
            log.warning("platform certificates: Redis not reachable, not shared")
    log.info("platform certificates refreshed", extra={"serials": sorted(shared)})
    return len(shared)


def key_for(mchid: str, serial: str, pay_client_factory: Any) -> Any | None:
    """The public key of platform certificate ``serial``, learnt or downloaded now; None if unknown."""
    serial = serial.upper()
    with _lock:
        key = _learnt.get((mchid, serial))
    if key is not None:
        return key
    key = _from_shared(mchid, serial)
    if key is not None:
        return key
    if refresh(mchid, pay_client_factory) is None:
        log.info("platform certificates: refresh skipped (rate limited)", extra={"serial": serial})
        return None
    with _lock:
        return _learnt.get((mchid, serial))


def forget_learnt() -> None:
    """Forget what this process learnt (tests: another process starts with nothing)."""
    with _lock:
        _learnt.clear()
        _local_refresh.clear()
