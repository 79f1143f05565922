"""Sandbox settings: the emulated mini-program apps and the knobs that make tests fast.

Everything comes from environment variables prefixed ``WECHAT_SANDBOX_`` with defaults that give one
working development app, so ``python -m devkit.wechat_sandbox`` needs no configuration:

=====================================  ===================================================================
``WECHAT_SANDBOX_APPID``               appid of the default app (``wx5a1d0b0c0ffee001``)
``WECHAT_SANDBOX_APP_SECRET``          its AppSecret (``sandbox-app-secret``)
``WECHAT_SANDBOX_ORIGINAL_ID``         its original id, ``ToUserName`` of pushes (``gh_5a1d0b0c0fee``)
``WECHAT_SANDBOX_UNIONID``             ``1`` when the app is bound to an Open Platform account (unionid)
``WECHAT_SANDBOX_PUSH_URL``            message-push URL for content-check results (empty: no push)
``WECHAT_SANDBOX_PUSH_TOKEN``          message-push Token (``sandbox-push-token``)
``WECHAT_SANDBOX_ENCODING_AES_KEY``    message-push EncodingAESKey, 43 base64 characters
``WECHAT_SANDBOX_EXTRA_APPS``          JSON list of more apps: ``[{"appid", "secret", "original_id",
                                       "unionid", "push_url", "push_token", "encoding_aes_key"}]``
``WECHAT_SANDBOX_ID_SECRET``           HMAC key from which openids, unionids and phone numbers derive
``WECHAT_SANDBOX_USERS``               comma-separated test users created at start (``alice,bob``)
``WECHAT_SANDBOX_PUSH_RETRY_DELAYS``   seconds between push retries, comma-separated (``1,5,15``)
``WECHAT_SANDBOX_<FIELD>``             any numeric field of :class:`SandboxSettings`, e.g.
                                       ``WECHAT_SANDBOX_MEDIA_CHECK_DELAY=0``,
                                       ``WECHAT_SANDBOX_ACCESS_TOKEN_TTL=60``, ``..._CODE_TTL``
``WECHAT_SANDBOX_PAY_*``               WeChat Pay API v3: see :mod:`devkit.wechat_sandbox.pay.settings`
=====================================  ===================================================================

The sandbox must never run in production; :func:`refuse_production` is the single check used by both
:func:`devkit.wechat_sandbox.create_sandbox_app` and the command line.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from devkit.wechat_sandbox.pay.settings import PaySettings

ENV_PREFIX = "WECHAT_SANDBOX_"
PRODUCTION_ENV_NAMES = frozenset({"production", "prod"})
APPID_PATTERN = re.compile(r"^wx[0-9a-f]{16}$")
USER_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

DEFAULT_APPID = "wx5a1d0b0c0ffee001"
# Development-only credentials of an emulated app: public by design, refused in production.
DEFAULT_APP_SECRET = "sandbox-app-secret"  # noqa: S105
DEFAULT_ORIGINAL_ID = "gh_5a1d0b0c0fee"
DEFAULT_PUSH_TOKEN = "sandbox-push-token"  # noqa: S105
# 43 base64 characters decoding (with "=" appended, as WeChat specifies) to a 32-byte AES key.
DEFAULT_ENCODING_AES_KEY = "G6rj5V0M5XnL4638pbuQlCiPyGopowuURYwfSDfRSiM"
DEFAULT_ID_SECRET = "miaohua-wechat-sandbox-id-secret"  # noqa: S105


class SandboxConfigError(ValueError):
    """A sandbox setting that cannot work (bad appid, bad EncodingAESKey, …)."""


def refuse_production(environ: Mapping[str, str] | None = None) -> None:
    """Raise RuntimeError when ``MIAOHUA_ENV`` or ``FLASK_ENV`` names production.

    The sandbox hands out tokens and phone numbers to anyone who asks; started next to a production
    backend it would let anyone impersonate any user, so it refuses to exist there at all.
    """
    environ = os.environ if environ is None else environ
    for variable in ("MIAOHUA_ENV", "FLASK_ENV"):
        value = (environ.get(variable) or "").strip().lower()
        if value in PRODUCTION_ENV_NAMES:
            raise RuntimeError(
                f"the WeChat sandbox refuses to run in production ({variable}={environ.get(variable)!r}); "
                "production talks to api.weixin.qq.com only"
            )


def decode_encoding_aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key WeChat derives from a 43-character EncodingAESKey."""
    if len(encoding_aes_key) != 43:
        raise SandboxConfigError("EncodingAESKey must be 43 characters")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SandboxConfigError("EncodingAESKey must be base64") from exc
    if len(key) != 32:
        raise SandboxConfigError("EncodingAESKey must decode to 32 bytes")
    return key


@dataclass(frozen=True)
class SandboxApp:
    """One emulated mini-program, with the credentials its backend is configured with."""

    appid: str = DEFAULT_APPID
    secret: str = DEFAULT_APP_SECRET
    original_id: str = DEFAULT_ORIGINAL_ID
    unionid_enabled: bool = False
    push_url: str = ""
    push_token: str = DEFAULT_PUSH_TOKEN
    encoding_aes_key: str = DEFAULT_ENCODING_AES_KEY

    def __post_init__(self) -> None:
        if not APPID_PATTERN.match(self.appid):
            raise SandboxConfigError(f"appid {self.appid!r} must look like 'wx' + 16 hex characters")
        if not self.secret:
            raise SandboxConfigError(f"app {self.appid} needs a secret")
        if self.push_url and not self.push_url.startswith(("http://", "https://")):
            raise SandboxConfigError(f"push_url of {self.appid} must be an http(s) URL")
        if not self.push_token:
            raise SandboxConfigError(f"app {self.appid} needs a push token")
        decode_encoding_aes_key(self.encoding_aes_key)

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> SandboxApp:
        """Build an app from one entry of ``WECHAT_SANDBOX_EXTRA_APPS``."""
        defaults = cls.__dataclass_fields__
        return cls(
            appid=str(data.get("appid", "")),
            secret=str(data.get("secret", "")),
            original_id=str(data.get("original_id", "gh_" + str(data.get("appid", ""))[-12:])),
            unionid_enabled=bool(data.get("unionid", False)),
            push_url=str(data.get("push_url", "")),
            push_token=str(data.get("push_token", defaults["push_token"].default)),
            encoding_aes_key=str(data.get("encoding_aes_key", defaults["encoding_aes_key"].default)),
        )


@dataclass(frozen=True)
class SandboxSettings:
    """Everything the sandbox needs; tests build one directly with short delays."""

    apps: tuple[SandboxApp, ...] = (SandboxApp(),)
    id_secret: str = DEFAULT_ID_SECRET
    default_users: tuple[str, ...] = ("alice", "bob")
    access_token_ttl: int = 7200
    code_ttl: int = 300
    # WeChat's quotas, kept configurable so a test can reach them with a handful of calls.
    code_attempt_limit: int = 5
    user_logins_per_minute: int = 100
    stable_token_force_refresh_per_day: int = 20
    stable_token_force_refresh_interval: int = 30
    max_media_bytes: int = 10 * 1024 * 1024
    # Real seconds (not the sandbox clock): how long background work waits and may take.
    media_check_delay: float = 1.0
    download_timeout: float = 10.0
    push_timeout: float = 5.0
    push_retry_delays: tuple[float, ...] = (1.0, 5.0, 15.0)
    max_fault_delay: float = 120.0
    # WeChat Pay API v3 (imported lazily: devkit.wechat_sandbox.pay.settings imports this module).
    pay: PaySettings = field(default_factory=lambda: _pay_settings_class()())

    def __post_init__(self) -> None:
        if not self.apps:
            raise SandboxConfigError("the sandbox needs at least one app")
        appids = [app.appid for app in self.apps]
        if len(set(appids)) != len(appids):
            raise SandboxConfigError("appids must be unique")
        for name in self.default_users:
            if not USER_NAME_PATTERN.match(name):
                raise SandboxConfigError(f"test user name {name!r} is not [A-Za-z0-9_.-]{{1,64}}")
        if self.media_check_delay < 0 or any(delay < 0 for delay in self.push_retry_delays):
            raise SandboxConfigError("delays cannot be negative")

    @property
    def default_app(self) -> SandboxApp:
        """The app dev-API calls use when they name none."""
        return self.apps[0]

    def app(self, appid: str) -> SandboxApp | None:
        """The configured app with this appid, if any."""
        return next((app for app in self.apps if app.appid == appid), None)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SandboxSettings:
        """Read the settings from ``WECHAT_SANDBOX_*`` variables (see the module docstring)."""
        environ = os.environ if environ is None else environ

        def get(name: str, default: str = "") -> str:
            value = environ.get(ENV_PREFIX + name)
            return default if value is None or value == "" else value

        primary = SandboxApp(
            appid=get("APPID", DEFAULT_APPID),
            secret=get("APP_SECRET", DEFAULT_APP_SECRET),
            original_id=get("ORIGINAL_ID", DEFAULT_ORIGINAL_ID),
            unionid_enabled=_parse_bool(ENV_PREFIX + "UNIONID", get("UNIONID", "0")),
            push_url=get("PUSH_URL"),
            push_token=get("PUSH_TOKEN", DEFAULT_PUSH_TOKEN),
            encoding_aes_key=get("ENCODING_AES_KEY", DEFAULT_ENCODING_AES_KEY),
        )
        apps = [primary]
        extra_apps = get("EXTRA_APPS")
        if extra_apps:
            try:
                entries = json.loads(extra_apps)
            except ValueError as exc:
                raise SandboxConfigError(f"{ENV_PREFIX}EXTRA_APPS must be a JSON list") from exc
            if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
                raise SandboxConfigError(f"{ENV_PREFIX}EXTRA_APPS must be a JSON list of objects")
            apps.extend(SandboxApp.from_mapping(entry) for entry in entries)

        overrides: dict[str, object] = {}
        for settings_field in dataclasses.fields(cls):
            raw = get(settings_field.name.upper())
            if not raw or settings_field.type not in ("int", "float"):
                continue
            variable = ENV_PREFIX + settings_field.name.upper()
            try:
                overrides[settings_field.name] = int(raw) if settings_field.type == "int" else float(raw)
            except ValueError as exc:
                raise SandboxConfigError(f"{variable} must be a number") from exc
        retry_delays = get("PUSH_RETRY_DELAYS")
        if retry_delays:
            try:
                parts = [part for part in retry_delays.split(",") if part.strip()]
                overrides["push_retry_delays"] = tuple(float(part) for part in parts)
            except ValueError as exc:
                raise SandboxConfigError(f"{ENV_PREFIX}PUSH_RETRY_DELAYS must be numbers") from exc
        users = get("USERS")
        if users:
            overrides["default_users"] = tuple(name.strip() for name in users.split(",") if name.strip())
        return cls(
            apps=tuple(apps),
            id_secret=get("ID_SECRET", DEFAULT_ID_SECRET),
            pay=_pay_settings_class().from_env(environ),
            **overrides,  # type: ignore[arg-type]
        )


def _pay_settings_class() -> type[PaySettings]:
    from devkit.wechat_sandbox.pay.settings import PaySettings

    return PaySettings


def _parse_bool(name: str, raw: str) -> bool:
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise SandboxConfigError(f"{name} must be a boolean (1/0, true/false)")
