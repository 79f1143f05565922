"""Settings of the WeChat Pay API v3 emulation, from ``WECHAT_SANDBOX_PAY_*`` variables.

=============================================  ==============================================================
``WECHAT_SANDBOX_PAY_ENABLED``                 ``0`` removes ``/v3/…`` and ``/sandbox/api/pay/…`` (default ``1``)
``WECHAT_SANDBOX_PAY_KEYS_DIR``                where the merchant and platform keys live, generated on first
                                               use (default ``<project>/instance/wechat_sandbox_pay``); the
                                               backend reads the same directory through
                                               :func:`devkit.wechat_sandbox.pay.dev_credentials`
``WECHAT_SANDBOX_PAY_MCHID``                   merchant id when the keys are generated (``1900000109``)
``WECHAT_SANDBOX_PAY_APPID``                   appid bound to the merchant (the sandbox's default app)
``WECHAT_SANDBOX_PAY_APIV3_KEY``               32 ASCII characters (random when the keys are generated)
``WECHAT_SANDBOX_PAY_NOTIFY_URL``              the merchant's default notify URL, used by refunds sent
                                               without ``notify_url`` (empty: no refund notification)
``WECHAT_SANDBOX_PAY_SIGNING``                 how answers and notifications are signed: ``public_key``
                                               (``PUB_KEY_ID_…``, default), ``certificate`` (platform
                                               certificate serial) or ``both`` (switch-over: alternating)
``WECHAT_SANDBOX_PAY_HTTP_NOTIFY_HOSTS``       hosts a ``notify_url`` may reach over plain http (WeChat
                                               requires https): ``127.0.0.1,localhost,::1``; empty: https only
``WECHAT_SANDBOX_PAY_NOTIFY_RETRY_DELAYS``     seconds between notification attempts, comma-separated
                                               (WeChat's 15s, 15s, 30s, 3m, 10m, 20m, 30m ×3, 60m, 3h ×3, 6h ×2)
``WECHAT_SANDBOX_PAY_NOTIFY_TIME_SCALE``       factor applied to those delays (``0.001``: milliseconds)
``WECHAT_SANDBOX_PAY_NOTIFY_TIMEOUT``          seconds the receiver has to answer (``5``)
``WECHAT_SANDBOX_PAY_REFUND_DELAY``            real seconds a refund stays PROCESSING (``1``; negative: until
                                               settled through the dev API)
``WECHAT_SANDBOX_PAY_PREPAY_TTL``              prepay_id lifetime on the sandbox clock (``7200``)
``WECHAT_SANDBOX_PAY_SIGNATURE_MAX_SKEW``      seconds a request timestamp may be off the wall clock (``300``)
=============================================  ==============================================================

:class:`PaySettings` built directly (tests) keeps ``keys_dir=None``: keys are then generated in memory on
first use and never written anywhere.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from devkit.wechat_sandbox.settings import SandboxConfigError

ENV_PREFIX = "WECHAT_SANDBOX_PAY_"
DEFAULT_MCHID = "1900000109"
PROJECT_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_KEYS_DIR = PROJECT_ROOT / "instance" / "wechat_sandbox_pay"
SIGNING_MODES = ("public_key", "certificate", "both")
# WeChat's notification retry schedule (seconds after the previous attempt): about 24 h in all.
WECHAT_RETRY_DELAYS: tuple[float, ...] = (
    15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600,
)
MCHID_PATTERN = re.compile(r"^[0-9]{6,12}$")
APIV3_KEY_PATTERN = re.compile(r"^[\x21-\x7e]{32}$")


@dataclass(frozen=True)
class PaySettings:
    """The emulated merchant and the knobs that make payment tests fast."""

    enabled: bool = True
    keys_dir: str | None = None
    mchid: str | None = None
    appid: str | None = None
    apiv3_key: str | None = None
    notify_url: str = ""
    signing: str = "public_key"
    http_notify_hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")
    prepay_ttl: int = 7200
    signature_max_skew: int = 300
    refund_delay: float = 1.0
    notify_timeout: float = 5.0
    notify_retry_delays: tuple[float, ...] = WECHAT_RETRY_DELAYS
    notify_time_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.signing not in SIGNING_MODES:
            raise SandboxConfigError(f"{ENV_PREFIX}SIGNING must be one of {', '.join(SIGNING_MODES)}")
        if self.mchid is not None and not MCHID_PATTERN.match(self.mchid):
            raise SandboxConfigError(f"mchid {self.mchid!r} must be 6-12 digits")
        if self.apiv3_key is not None and not APIV3_KEY_PATTERN.match(self.apiv3_key):
            raise SandboxConfigError("the APIv3 key must be 32 printable ASCII characters")
        if self.notify_url and not self.notify_url.startswith(("http://", "https://")):
            raise SandboxConfigError(f"{ENV_PREFIX}NOTIFY_URL must be an http(s) URL")
        if self.notify_time_scale < 0 or self.notify_timeout <= 0 or any(d < 0 for d in self.notify_retry_delays):
            raise SandboxConfigError("pay delays and timeouts cannot be negative")
        if self.prepay_ttl <= 0 or self.signature_max_skew <= 0:
            raise SandboxConfigError("pay lifetimes must be positive")

    def retry_waits(self) -> list[float]:
        """Real seconds to wait before each notification attempt (0 before the first)."""
        return [0.0, *(delay * self.notify_time_scale for delay in self.notify_retry_delays)]

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> PaySettings:
        """Read ``WECHAT_SANDBOX_PAY_*`` (see the module docstring); the keys live in a directory."""

        def get(name: str) -> str | None:
            value = environ.get(ENV_PREFIX + name)
            return None if value is None or value.strip() == "" else value.strip()

        values: dict[str, object] = {"keys_dir": get("KEYS_DIR") or str(DEFAULT_KEYS_DIR)}
        for name in ("mchid", "appid", "apiv3_key", "notify_url", "signing"):
            raw = get(name.upper())
            if raw is not None:
                values[name] = raw
        enabled = get("ENABLED")
        if enabled is not None:
            if enabled.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise SandboxConfigError(f"{ENV_PREFIX}ENABLED must be a boolean (1/0, true/false)")
            values["enabled"] = enabled.lower() in ("1", "true", "yes", "on")
        hosts = environ.get(ENV_PREFIX + "HTTP_NOTIFY_HOSTS")
        if hosts is not None:
            values["http_notify_hosts"] = tuple(host.strip() for host in hosts.split(",") if host.strip())
        delays = get("NOTIFY_RETRY_DELAYS")
        if delays is not None:
            values["notify_retry_delays"] = _numbers("NOTIFY_RETRY_DELAYS", delays.split(","))
        for settings_field in dataclasses.fields(cls):
            raw = get(settings_field.name.upper())
            if raw is not None and settings_field.type in ("int", "float"):
                number = _numbers(settings_field.name.upper(), [raw])[0]
                values[settings_field.name] = int(number) if settings_field.type == "int" else number
        return cls(**values)  # type: ignore[arg-type]


def _numbers(name: str, parts: list[str]) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in parts if part.strip())
    except ValueError as exc:
        raise SandboxConfigError(f"{ENV_PREFIX}{name} must be numbers") from exc
