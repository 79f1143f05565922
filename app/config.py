"""The Flask config of each profile, from the settings declared in ``app/settings.py``.

Every setting is declared once there (type, default, secret or not, required in production); this
module turns the environment into a profile's config: development defaults for secrets outside
production, a few defaults derived from other settings (the sandbox's credentials, the instance
folder), and the rules a profile enforces. ``ProductionConfig.problems()`` lists everything that
would make production unsafe (missing secrets, the WeChat sandbox, SQLite…), so a mis-deployed
process dies at start-up instead of serving users with development keys, and ``flask config check``
shows every problem at once.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from app.settings import PRODUCTION_PROFILES, Settings, SettingsError, declared, meta, read_settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = Path(os.environ.get("MIAOHUA_INSTANCE_DIR") or PROJECT_ROOT / "instance")

# Official WeChat hosts: production may only talk to these.
WECHAT_API_BASE_URL = "https://api.weixin.qq.com"
WECHAT_PAY_BASE_URL = "https://api.mch.weixin.qq.com"

# The WeChat sandbox's default emulated mini-program (development credentials, public by design).
SANDBOX_APPID = "wx5a1d0b0c0ffee001"
SANDBOX_APP_SECRET = "sandbox-app-secret"  # noqa: S105
SANDBOX_PUSH_TOKEN = "sandbox-push-token"  # noqa: S105
SANDBOX_PUSH_AES_KEY = "G6rj5V0M5XnL4638pbuQlCiPyGopowuURYwfSDfRSiM"

# Where `make run` serves its embedded Redis-compatible queue server when REDIS_URL is unset.
EMBEDDED_REDIS_DEFAULT_PORT = 6399


class ConfigError(RuntimeError):
    """Raised when a configuration cannot be used (missing secret, sandbox in production, …)."""


def _database_url(url: str) -> str:
    # Heroku-style URLs name the old driver; we ship psycopg 3.
    if url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url[len("postgres://"):]
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


DEFAULT_PROCESSORS = [
    {"name": "微信登录 / 手机号快速验证 (WeChat)", "company": "深圳市腾讯计算机系统有限公司",
     "purpose": "登录、获取您授权的手机号", "data": "微信 openid、手机号", "policy": "https://weixin.qq.com/"},
    {"name": "微信支付 (WeChat Pay)", "company": "财付通支付科技有限公司",
     "purpose": "订单支付与退款", "data": "订单号、金额、openid", "policy": "https://pay.weixin.qq.com/"},
    {"name": "微信内容安全 (WeChat content security)", "company": "深圳市腾讯计算机系统有限公司",
     "purpose": "检测上传图片与文字是否合规", "data": "待检测的图片与文字（检测后不保留）",
     "policy": "https://weixin.qq.com/"},
]


def _read_secret(value: str | None) -> str | None:
    """A PEM given inline, or the path of a file holding it."""
    if value and not value.lstrip().startswith("-----BEGIN") and Path(value).is_file():
        return Path(value).read_text(encoding="utf-8")
    return value


def _processors(path: str | None) -> list[dict[str, str]]:
    """The SDK / processor list (§6), from a JSON file when PROCESSORS_FILE is set."""
    if not path:
        return DEFAULT_PROCESSORS
    import json

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"PROCESSORS_FILE {path!r} is not a readable JSON list: {exc}") from exc
    if not isinstance(data, list) or not all(isinstance(item, dict) and "name" in item for item in data):
        raise ConfigError("PROCESSORS_FILE must hold a JSON list of objects with at least a 'name'")
    return data


RETENTION_ACTIONS = {"results": "delete", "generation_jobs": "delete", "deleted_uploads": "delete",
                     "operation_logs": "delete", "login_sessions": "delete", "sms_codes": "delete",
                     "exports": "delete", "orders_without_user": "anonymise", "orders": "delete",
                     "deletion_receipts": "delete", "deletion_log": "delete", "support_tickets": "delete"}


class BaseConfig:
    """Settings shared by every environment; subclasses change the defaults only."""

    ENV_NAME = "base"
    DEBUG = False
    TESTING = False
    REQUIRE_HTTPS = False

    def __init__(self, settings: Settings | None = None) -> None:
        settings = settings or read_settings()
        self.settings = settings
        production_like = self.ENV_NAME in PRODUCTION_PROFILES
        for name, field in declared():
            value = getattr(settings, name)
            dev_default = meta(field)["dev_default"]
            if value is None and dev_default is not None and not production_like:
                value = dev_default
            setattr(self, name, value)
        self.derive_defaults()

    def derive_defaults(self) -> None:
        """Defaults that depend on the profile or on other settings (each one's ``derived`` says which)."""
        instance = Path(self.MIAOHUA_INSTANCE_DIR or INSTANCE_DIR)
        self.SQLALCHEMY_DATABASE_URI = _database_url(self.DATABASE_URL or self.default_database_url(instance))
        self.SQLALCHEMY_ENGINE_OPTIONS = self._engine_options(self.SQLALCHEMY_DATABASE_URI)
        self.SQLALCHEMY_TRACK_MODIFICATIONS = False
        if self.WECHAT_SANDBOX is None:
            self.WECHAT_SANDBOX = self.default_sandbox()
        sandbox = self.WECHAT_SANDBOX
        sandbox_url = f"http://127.0.0.1:{self.WECHAT_SANDBOX_PORT}"
        derived = {
            "WECHAT_APPID": SANDBOX_APPID if sandbox else None,
            "WECHAT_SECRET": SANDBOX_APP_SECRET if sandbox else None,
            "WECHAT_API_BASE_URL": sandbox_url if sandbox else WECHAT_API_BASE_URL,
            "WECHAT_PAY_BASE_URL": sandbox_url if sandbox else WECHAT_PAY_BASE_URL,
            "WECHAT_PUSH_TOKEN": SANDBOX_PUSH_TOKEN if sandbox else None,
            "WECHAT_PUSH_AES_KEY": SANDBOX_PUSH_AES_KEY if sandbox else None,
            "SUBSCRIBE_TEMPLATE_JOB_DONE": "job-done-template" if sandbox else None,
            "SUBSCRIBE_TEMPLATE_NOTICE": "notice-template" if sandbox else None,
            "METRICS_TOKEN": "dev-metrics-token" if sandbox else None,
            "STORAGE_LOCAL_ROOT": str(instance / "objects"),
            "WECHAT_SANDBOX_PAY_KEYS_DIR": str(instance / "wechat_sandbox_pay"),
            "DEMO_ENABLED": self.ENV_NAME not in PRODUCTION_PROFILES,
            "PUBLIC_BASE_URL": self.default_public_base_url(),
            "SMS_PROVIDER": self.default_sms_provider(),
            "STAFF_PASSWORD_HASH_PROFILE": "rfc9106_low_memory",
        }
        for name, value in derived.items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        for name in ("WECHAT_PAY_PRIVATE_KEY", "WECHAT_PAY_PUBLIC_KEY", "WECHAT_PAY_PLATFORM_CERTS",
                     "WECHAT_PAY_PREVIOUS_PUBLIC_KEY"):
            setattr(self, name, _read_secret(getattr(self, name)))
        self.PROCESSORS = _processors(self.PROCESSORS_FILE)
        # Retention (policy §5; docs/privacy.md "Retention"): data class → period → action, enforced daily by the
        # privacy.retention job (app/privacy/retention.py). Each period: RETENTION_<CLASS>_DAYS.
        self.RETENTION = {name: {"days": getattr(self, f"RETENTION_{name.upper()}_DAYS"), "action": action}
                          for name, action in RETENTION_ACTIONS.items()}
        self.ALERT_QUEUE_AGE_S = {"generation": self.ALERT_QUEUE_AGE_GENERATION_S,
                                  "default": self.ALERT_QUEUE_AGE_DEFAULT_S,
                                  "maintenance": self.ALERT_QUEUE_AGE_MAINTENANCE_S}

    def default_database_url(self, instance: Path) -> str:
        return f"sqlite:///{instance / 'miaohua.db'}"

    def default_public_base_url(self) -> str | None:
        return f"http://127.0.0.1:{self.WEB_PORT}"

    @staticmethod
    def default_sandbox() -> bool:
        return True

    @staticmethod
    def default_sms_provider() -> str:
        return "sandbox"

    @staticmethod
    def _engine_options(url: str, settings: Settings | None = None) -> dict[str, Any]:
        if url.startswith("postgresql"):
            settings = settings or read_settings()
            return {  # no pool_pre_ping: connections are pinged only after sitting idle (app/core/db_pool.py)
                "pool_size": settings.DATABASE_POOL_SIZE,
                "max_overflow": settings.DATABASE_MAX_OVERFLOW,
                "connect_args": {"connect_timeout": settings.DATABASE_CONNECT_TIMEOUT},
            }
        return {}

    def problems(self) -> list[str]:
        """Everything that stops this configuration from working (empty: it works)."""
        found = []
        if self.REDIS_URL and self.REDIS_URL.startswith("fakeredis://") and not self.TESTING:
            found.append("REDIS_URL=fakeredis:// (in-process fake) is for tests only")
        if self.STORAGE_BACKEND == "s3" and not self.S3_BUCKET:
            found.append("STORAGE_BACKEND=s3 needs S3_BUCKET")
        if self.ENCRYPTION_KEY:
            from app.core.crypto import Keyring

            try:
                Keyring.from_config(self.ENCRYPTION_KEY, self.ENCRYPTION_KEY_ID, self.ENCRYPTION_OLD_KEYS)
            except ValueError as exc:
                found.append(f"ENCRYPTION_KEY / ENCRYPTION_OLD_KEYS: {exc}")
        return found + self.previous_public_key_problems()

    def previous_public_key_problems(self) -> list[str]:
        if not self.WECHAT_PAY_PREVIOUS_PUBLIC_KEY:
            return []
        try:
            zoned = datetime.fromisoformat(self.WECHAT_PAY_PREVIOUS_PUBLIC_KEY_UNTIL or "").tzinfo is not None
        except ValueError:
            zoned = False
        if not zoned or not self.WECHAT_PAY_PREVIOUS_PUBLIC_KEY_ID:
            return ["WECHAT_PAY_PREVIOUS_PUBLIC_KEY needs WECHAT_PAY_PREVIOUS_PUBLIC_KEY_ID and "
                    "WECHAT_PAY_PREVIOUS_PUBLIC_KEY_UNTIL (ISO 8601, with a zone)"]
        return []

    def validate(self) -> None:
        """Fail fast, naming every problem at once; stricter in production."""
        found = self.problems()
        if found:
            raise ConfigError("\n".join(found))

    def as_dict(self) -> dict[str, Any]:
        names = [n for n in dir(self) if n.isupper()]
        return {name: getattr(self, name) for name in names}


class DevelopmentConfig(BaseConfig):
    ENV_NAME = "development"
    DEBUG = False  # the Werkzeug debugger executes code: never on by default


class TestingConfig(BaseConfig):
    ENV_NAME = "testing"
    TESTING = True

    def derive_defaults(self) -> None:
        super().derive_defaults()
        settings = self.settings
        # A file, not :memory:, so every connection (test thread, live server, worker) has its own
        # transaction, as against a real server.
        default_db = Path(tempfile.gettempdir()) / f"miaohua-test-{os.getpid()}.db"
        self.SQLALCHEMY_DATABASE_URI = _database_url(settings.TEST_DATABASE_URL or f"sqlite:///{default_db}")
        self.SQLALCHEMY_ENGINE_OPTIONS = self._engine_options(self.SQLALCHEMY_DATABASE_URI, settings)
        # Tests without a real Redis use an in-process fakeredis.
        self.REDIS_URL = settings.TEST_REDIS_URL or "fakeredis://"
        self.STORAGE_LOCAL_ROOT = str(Path(tempfile.gettempdir()) / f"miaohua-test-objects-{os.getpid()}")
        self.JOB_RESULT_TTL = 60
        self.LOG_FORMAT = "json"
        # argon2's cheapest parameters: the suite logs staff in hundreds of times (production refuses this).
        self.STAFF_PASSWORD_HASH_PROFILE = settings.STAFF_PASSWORD_HASH_PROFILE or "test"


class ProductionConfig(BaseConfig):
    ENV_NAME = "production"
    REQUIRE_HTTPS = True  # payment callbacks over plain http are refused (X-Forwarded-Proto via TRUSTED_PROXIES)

    # The settings declared ``required`` (app/settings.py), except the database and Redis URLs, whose
    # own rules below say more than "missing".
    REQUIRED_SECRETS = tuple(name for name, field in declared()
                             if meta(field)["required"] and name not in ("DATABASE_URL", "REDIS_URL"))

    # Production never falls back to development defaults for secrets, storage or addresses.
    def default_database_url(self, instance: Path) -> str:
        return ""

    def default_public_base_url(self) -> str | None:
        return None

    @staticmethod
    def default_sandbox() -> bool:
        return False

    @staticmethod
    def default_sms_provider() -> str:
        return "disabled"

    def required_secrets(self) -> tuple[str, ...]:
        return self.REQUIRED_SECRETS

    def wechat_problems(self) -> list[str]:
        """Real WeChat only: no sandbox, no development SMS, the official hosts."""
        found = []
        if self.WECHAT_SANDBOX:
            found.append("production refuses to start with WECHAT_SANDBOX enabled")
        if self.SMS_PROVIDER == "sandbox":
            found.append("production refuses SMS_PROVIDER=sandbox (it keeps codes for a developer page)")
        if self.WECHAT_API_BASE_URL != WECHAT_API_BASE_URL or self.WECHAT_PAY_BASE_URL != WECHAT_PAY_BASE_URL:
            found.append("production talks to WeChat's official hosts only; unset WECHAT_*_BASE_URL")
        return found

    def devkit_problems(self) -> list[str]:
        """The demo (devkit/) is not part of the production image; production never imports it."""
        return ["production refuses DEMO_ENABLED (the demo lives in devkit/, outside the image)"] \
            if self.DEMO_ENABLED else []

    def problems(self) -> list[str]:
        found = super().problems()
        missing = [name for name in self.required_secrets() if not getattr(self, name)]
        if missing:
            found.append(f"{self.ENV_NAME} refuses to start without: {', '.join(missing)}")
        found += self.wechat_problems() + self.devkit_problems()
        if self.STAFF_PASSWORD_HASH_PROFILE != "rfc9106_low_memory":  # noqa: S105 - a profile name
            found.append("production hashes staff passwords with STAFF_PASSWORD_HASH_PROFILE=rfc9106_low_memory")
        if not (self.PUBLIC_BASE_URL or "").startswith("https://"):
            found.append("production needs PUBLIC_BASE_URL on https://")
        if not self.SQLALCHEMY_DATABASE_URI.startswith("postgresql"):
            found.append("production needs DATABASE_URL pointing at PostgreSQL")
        if not self.REDIS_URL or not self.REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
            found.append("production needs REDIS_URL pointing at a Redis server")
        return found


class StagingConfig(ProductionConfig):
    """Production in every respect (PostgreSQL, Redis, https, secrets, gunicorn, separate workers and
    scheduler) except that WeChat, WeChat Pay and SMS may be the sandbox: the profile of the deployment
    smoke test (tests/deploy) and of a pre-release environment. It cannot pass for production: its own
    ``MIAOHUA_ENV=staging``, an ``X-Miaohua-Environment: staging`` header on every answer and a warning
    in the log at start-up; ``MIAOHUA_ENV=production`` still refuses every sandbox setting."""

    ENV_NAME = "staging"
    SANDBOX_PAY_SECRETS = ("WECHAT_PAY_MCHID", "WECHAT_PAY_PRIVATE_KEY", "WECHAT_PAY_CERT_SERIAL",
                           "WECHAT_PAY_APIV3_KEY")

    def required_secrets(self) -> tuple[str, ...]:
        if not self.WECHAT_SANDBOX:
            return self.REQUIRED_SECRETS
        # The sandbox's development merchant signs payments (its keys live in WECHAT_SANDBOX_PAY_KEYS_DIR).
        return tuple(name for name in self.REQUIRED_SECRETS if name not in self.SANDBOX_PAY_SECRETS)

    def wechat_problems(self) -> list[str]:
        return [] if self.WECHAT_SANDBOX else super().wechat_problems()

    def devkit_problems(self) -> list[str]:
        return []  # a staging deployment from the repository may serve the demo (DEMO_ENABLED=1)


CONFIGS: dict[str, type[BaseConfig]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "staging": StagingConfig,
    "production": ProductionConfig,
}


def load_config(name: str | None = None) -> BaseConfig:
    """Build the config named by ``name`` or ``MIAOHUA_ENV`` (default ``development``)."""
    name = name or os.environ.get("MIAOHUA_ENV") or "development"
    try:
        config_class = CONFIGS[name]
    except KeyError as exc:
        raise ConfigError(f"unknown MIAOHUA_ENV {name!r}; use one of {sorted(CONFIGS)}") from exc
    try:
        config = config_class()
    except SettingsError as exc:
        raise ConfigError(str(exc)) from exc
    config.validate()
    return config
