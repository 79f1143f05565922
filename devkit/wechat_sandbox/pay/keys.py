"""Key material of the emulated merchant and of WeChat Pay, generated once and shared with the backend.

A keys directory holds what a real merchant downloads from the merchant platform, plus the halves
only WeChat has (used by the sandbox to sign)::

    merchant.json                 mchid, appid, APIv3 key, serial numbers, public key id    (0600)
    apiclient_key.pem             merchant API private key, PKCS#8                          (0600)
    apiclient_cert.pem            merchant API certificate (its serial is the serial_no)
    pub_key.pem                   WeChat Pay public key (public-key mode, ``PUB_KEY_ID_…``)
    platform_certs/<SERIAL>.pem   WeChat Pay platform certificate (certificate mode); usable as
                                  wechatpayv3's ``cert_dir``
    sandbox_pub_key_private.pem   sandbox only: private half of pub_key.pem                 (0600)
    sandbox_platform_key.pem      sandbox only: private key of the platform certificate     (0600)

:func:`dev_credentials` creates the directory on first use (under an exclusive lock, each file written
atomically, ``merchant.json`` last) and returns everything a backend configures in development.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import string
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.x509.oid import NameOID

from devkit.wechat_sandbox.pay.settings import DEFAULT_MCHID
from devkit.wechat_sandbox.settings import DEFAULT_APPID

try:  # POSIX; elsewhere two first starts racing could generate twice
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

MERCHANT_FILE = "merchant.json"
MERCHANT_KEY_FILE = "apiclient_key.pem"
MERCHANT_CERT_FILE = "apiclient_cert.pem"
PUBLIC_KEY_FILE = "pub_key.pem"
PUBLIC_KEY_PRIVATE_FILE = "sandbox_pub_key_private.pem"
PLATFORM_KEY_FILE = "sandbox_platform_key.pem"
PLATFORM_CERT_DIR = "platform_certs"
APIV3_ALPHABET = string.ascii_letters + string.digits
CERTIFICATE_YEARS = 5
# Loaded keys by directory, reused while merchant.json is unchanged: loading checks three RSA keys
# (~0.1 s), and tests build many sandboxes on one directory.
_loaded: dict[Path, tuple[tuple[int, int, int], PayKeys]] = {}
_loaded_lock = threading.Lock()


class PayKeysMismatch(ValueError):
    """The keys directory was made for another merchant than the one asked for."""


@dataclass(frozen=True)
class PlatformCertificate:
    """A WeChat Pay platform certificate and the key that signs with it."""

    serial_no: str
    certificate: x509.Certificate
    private_key: RSAPrivateKey

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()


@dataclass(frozen=True)
class PayKeys:
    """Everything about one merchant's keys; ``credentials()`` is what the backend gets."""

    mchid: str
    appid: str
    apiv3_key: str
    merchant_serial_no: str
    merchant_private_key: RSAPrivateKey
    merchant_certificate: x509.Certificate
    public_key_id: str
    public_key_private: RSAPrivateKey
    platform: PlatformCertificate
    keys_dir: Path | None = None

    @property
    def merchant_public_key(self) -> RSAPublicKey:
        return self.merchant_private_key.public_key()

    @property
    def public_key_pem(self) -> str:
        return public_pem(self.public_key_private.public_key())

    def credentials(self) -> dict[str, Any]:
        """What a backend needs: ``WeChatPay(mchid=…, private_key=…, cert_serial_no=…, …)``."""
        cert_dir = str(self.keys_dir / PLATFORM_CERT_DIR) if self.keys_dir else None
        return {
            "mchid": self.mchid,
            "appid": self.appid,
            "merchant_private_key": private_pem(self.merchant_private_key),
            "merchant_cert_serial_no": self.merchant_serial_no,
            "merchant_certificate": self.merchant_certificate.public_bytes(serialization.Encoding.PEM).decode(),
            "apiv3_key": self.apiv3_key,
            "wechatpay_public_key": self.public_key_pem,
            "wechatpay_public_key_id": self.public_key_id,
            "platform_certificate": self.platform.pem,
            "platform_certificate_serial_no": self.platform.serial_no,
            "platform_cert_dir": cert_dir,
            "keys_dir": str(self.keys_dir) if self.keys_dir else None,
        }


def private_pem(key: RSAPrivateKey) -> str:
    """PKCS#8 ``BEGIN PRIVATE KEY``: wechatpayv3 cannot load ``BEGIN RSA PRIVATE KEY``."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def public_pem(key: RSAPublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def new_rsa_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def certificate_serial(certificate: x509.Certificate) -> str:
    """Serial number as WeChat writes it: upper-case hexadecimal."""
    return f"{certificate.serial_number:X}"


def _new_serial() -> int:
    # 40 hex digits with a non-zero first digit, so hex() and the zero-padded form agree.
    return secrets.randbelow(2**159 - 2**156) + 2**156


def _self_signed(key: RSAPrivateKey, common_name: str, unit: str, now: datetime) -> x509.Certificate:
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Miaohua WeChat sandbox (not Tenpay)"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])
    return (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(_new_serial())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365 * CERTIFICATE_YEARS))
        .sign(key, hashes.SHA256())
    )


def new_platform_certificate(mchid: str, now: datetime | None = None) -> PlatformCertificate:
    """A fresh platform certificate (rotation creates one; the previous one stays valid)."""
    key = new_rsa_key()
    certificate = _self_signed(key, "Tenpay.com sandbox platform", f"platform for {mchid}",
                               now or datetime.now(UTC))
    return PlatformCertificate(certificate_serial(certificate), certificate, key)


def generate_keys(mchid: str | None = None, appid: str | None = None, apiv3_key: str | None = None) -> PayKeys:
    """New key material in memory (RSA 2048 ×3, a fraction of a second)."""
    mchid = mchid or DEFAULT_MCHID
    now = datetime.now(UTC)
    merchant_key = new_rsa_key()
    merchant_certificate = _self_signed(merchant_key, mchid, "merchant API certificate", now)
    public_key_id = f"PUB_KEY_ID_01{mchid}{now:%Y%m%d}{secrets.randbelow(10**8):08d}"
    return PayKeys(
        mchid=mchid,
        appid=appid or DEFAULT_APPID,
        apiv3_key=apiv3_key or "".join(secrets.choice(APIV3_ALPHABET) for _ in range(32)),
        merchant_serial_no=certificate_serial(merchant_certificate),
        merchant_private_key=merchant_key,
        merchant_certificate=merchant_certificate,
        public_key_id=public_key_id,
        public_key_private=new_rsa_key(),
        platform=new_platform_certificate(mchid, now),
    )


def _write_atomic(path: Path, text: str, mode: int) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(directory / ".lock", "a", encoding="utf-8") as lock_file:
        if fcntl is not None:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)


def _save(keys: PayKeys, directory: Path) -> None:
    (directory / PLATFORM_CERT_DIR).mkdir(mode=0o700, exist_ok=True)
    _write_atomic(directory / MERCHANT_KEY_FILE, private_pem(keys.merchant_private_key), 0o600)
    _write_atomic(directory / MERCHANT_CERT_FILE,
                  keys.merchant_certificate.public_bytes(serialization.Encoding.PEM).decode(), 0o644)
    _write_atomic(directory / PUBLIC_KEY_FILE, keys.public_key_pem, 0o644)
    _write_atomic(directory / PUBLIC_KEY_PRIVATE_FILE, private_pem(keys.public_key_private), 0o600)
    _write_atomic(directory / PLATFORM_KEY_FILE, private_pem(keys.platform.private_key), 0o600)
    _write_atomic(directory / PLATFORM_CERT_DIR / f"{keys.platform.serial_no}.pem", keys.platform.pem, 0o644)
    summary = {"mchid": keys.mchid, "appid": keys.appid, "apiv3_key": keys.apiv3_key,
               "merchant_cert_serial_no": keys.merchant_serial_no, "wechatpay_public_key_id": keys.public_key_id,
               "platform_certificate_serial_no": keys.platform.serial_no}
    _write_atomic(directory / MERCHANT_FILE, json.dumps(summary, indent=2) + "\n", 0o600)  # last: the marker


def _load(directory: Path) -> PayKeys:
    summary = json.loads((directory / MERCHANT_FILE).read_text(encoding="utf-8"))

    def private(name: str) -> RSAPrivateKey:
        key = serialization.load_pem_private_key((directory / name).read_bytes(), password=None)
        if not isinstance(key, RSAPrivateKey):
            raise ValueError(f"{directory / name} is not an RSA private key")
        return key

    serial = summary["platform_certificate_serial_no"]
    certificate = x509.load_pem_x509_certificate((directory / PLATFORM_CERT_DIR / f"{serial}.pem").read_bytes())
    return PayKeys(
        mchid=summary["mchid"],
        appid=summary["appid"],
        apiv3_key=summary["apiv3_key"],
        merchant_serial_no=summary["merchant_cert_serial_no"],
        merchant_private_key=private(MERCHANT_KEY_FILE),
        merchant_certificate=x509.load_pem_x509_certificate((directory / MERCHANT_CERT_FILE).read_bytes()),
        public_key_id=summary["wechatpay_public_key_id"],
        public_key_private=private(PUBLIC_KEY_PRIVATE_FILE),
        platform=PlatformCertificate(serial, certificate, private(PLATFORM_KEY_FILE)),
        keys_dir=directory,
    )


def load_or_create_keys(
    keys_dir: str | os.PathLike[str],
    *,
    mchid: str | None = None,
    appid: str | None = None,
    apiv3_key: str | None = None,
    default_appid: str | None = None,
) -> PayKeys:
    """The keys stored in ``keys_dir``, generated there first when missing.

    Given values must match stored ones (:class:`PayKeysMismatch` otherwise: delete the directory or
    change the setting); values left ``None`` take what is stored, or the defaults at generation
    (``default_appid`` then, else the sandbox's default appid).
    """
    directory = Path(keys_dir).resolve()
    with _locked(directory):
        if not (directory / MERCHANT_FILE).exists():
            _save(generate_keys(mchid, appid or default_appid, apiv3_key), directory)
        marker = (directory / MERCHANT_FILE).stat()
        version = (marker.st_ino, marker.st_mtime_ns, marker.st_size)
        with _loaded_lock:
            cached = _loaded.get(directory)
        if cached is not None and cached[0] == version:
            keys = cached[1]
        else:
            keys = _load(directory)
            with _loaded_lock:
                _loaded[directory] = (version, keys)
    _check(directory, {"mchid": keys.mchid, "appid": keys.appid, "apiv3_key": keys.apiv3_key},
           mchid=mchid, appid=appid, apiv3_key=apiv3_key)
    return keys


def _check(directory: Path, stored: dict[str, str], **wanted: str | None) -> None:
    for name, value in wanted.items():
        if value is not None and stored.get(name) != value:
            shown = "(another key)" if name == "apiv3_key" else repr(stored.get(name))
            raise PayKeysMismatch(f"{directory} holds keys for {name}={shown}, not the configured one"
                                  f"{'' if name == 'apiv3_key' else f' ({value!r})'}: "
                                  "delete the directory to generate new ones, or change the setting")


def check_keys_dir(keys_dir: str | os.PathLike[str], **wanted: str | None) -> None:
    """Refuse an existing keys directory made for another mchid/appid/APIv3 key (reads no key, writes nothing)."""
    directory = Path(keys_dir).resolve()
    if (directory / MERCHANT_FILE).exists():
        _check(directory, json.loads((directory / MERCHANT_FILE).read_text(encoding="utf-8")), **wanted)


def dev_credentials(
    keys_dir: str | os.PathLike[str], *, mchid: str | None = None, appid: str | None = None
) -> dict[str, Any]:
    """Everything a development backend needs to talk to the sandbox's WeChat Pay, generated on first use.

    Returns ``{mchid, appid, merchant_private_key, merchant_cert_serial_no, merchant_certificate,
    apiv3_key, wechatpay_public_key, wechatpay_public_key_id, platform_certificate,
    platform_certificate_serial_no, platform_cert_dir, keys_dir}`` (PEM strings; ``platform_cert_dir``
    is a directory wechatpayv3 can take as ``cert_dir``).  Development only: these keys are not secret.
    """
    return load_or_create_keys(keys_dir, mchid=mchid, appid=appid).credentials()
