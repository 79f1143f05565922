"""Configuration read from environment variables.

Every setting has a documented default (see README, "Configuration") that gives a working
development setup with nothing installed. ``ProductionConfig.validate()`` refuses to start
without its secrets and refuses the WeChat sandbox, so a mis-deployed process dies at start-up
instead of serving users with development keys.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = Path(os.environ.get("MIAOHUA_INSTANCE_DIR", PROJECT_ROOT / "instance"))

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


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def _database_url(default: str) -> str:
    url = env_str("DATABASE_URL", default)
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


def _read_secret(name: str) -> str | None:
    """A PEM given inline, or the path of a file holding it."""
    value = env_str(name)
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


class BaseConfig:
    """Settings shared by every environment; subclasses change the defaults only."""

    ENV_NAME = "base"
    DEBUG = False
    TESTING = False

    def __init__(self) -> None:
        self.SECRET_KEY = env_str("SECRET_KEY", "dev-secret-key-not-for-production")
        # 32 bytes, urlsafe base64: the key-encryption key for sensitive fields and files.
        self.ENCRYPTION_KEY = env_str("ENCRYPTION_KEY", "ZGV2LWVuY3J5cHRpb24ta2V5LW5vdC1mb3ItcHJvZCE=")
        self.ENCRYPTION_KEY_ID = env_str("ENCRYPTION_KEY_ID", "k1")
        self.ENCRYPTION_OLD_KEYS = env_str("ENCRYPTION_OLD_KEYS")  # "keyid:base64,…" still decryptable
        # HMAC key of lookup hashes (phone, openid, device id); changing it orphans every lookup.
        self.LOOKUP_HASH_KEY = env_str("LOOKUP_HASH_KEY", "dev-lookup-hash-key-not-for-production")
        self.SQLALCHEMY_DATABASE_URI = _database_url(f"sqlite:///{INSTANCE_DIR / 'miaohua.db'}")
        self.SQLALCHEMY_ENGINE_OPTIONS = self._engine_options(self.SQLALCHEMY_DATABASE_URI)
        self.SQLALCHEMY_TRACK_MODIFICATIONS = False

        # Queues: unset means "the embedded queue server that `make run` starts".
        self.REDIS_URL = env_str("REDIS_URL")
        self.EMBEDDED_REDIS_PORT = env_int("EMBEDDED_REDIS_PORT", EMBEDDED_REDIS_DEFAULT_PORT)
        self.REDIS_SOCKET_TIMEOUT = float(env_str("REDIS_SOCKET_TIMEOUT", "5"))
        self.JOB_DEFAULT_TIMEOUT = env_int("JOB_DEFAULT_TIMEOUT", 300)
        self.JOB_FAILURE_TTL = env_int("JOB_FAILURE_TTL", 7 * 24 * 3600)
        self.JOB_RESULT_TTL = env_int("JOB_RESULT_TTL", 3600)

        # HTTP limits: the whole request, and a JSON body (giant JSON is refused before parsing).
        self.MAX_CONTENT_LENGTH = env_int("MAX_CONTENT_LENGTH", 16 * 1024 * 1024)
        self.MAX_JSON_BYTES = env_int("MAX_JSON_BYTES", 64 * 1024)

        # How many reverse proxies (load balancer, nginx) stand in front and set X-Forwarded-For/-Proto.
        self.TRUSTED_PROXIES = env_int("TRUSTED_PROXIES", 0)

        self.LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
        self.LOG_FORMAT = env_str("LOG_FORMAT", "json")  # json | text

        # WeChat: production talks to the official hosts; the sandbox only exists outside production.
        self.WECHAT_SANDBOX = env_bool("WECHAT_SANDBOX", self.default_sandbox())
        # With the sandbox on, WeChat defaults to the sandbox's own emulated app on loopback.
        self.WECHAT_SANDBOX_PORT = env_int("WECHAT_SANDBOX_PORT", 5100)
        sandbox = self.WECHAT_SANDBOX
        self.WECHAT_APPID = env_str("WECHAT_APPID", SANDBOX_APPID if sandbox else None)
        self.WECHAT_SECRET = env_str("WECHAT_SECRET", SANDBOX_APP_SECRET if sandbox else None)
        self.WECHAT_API_BASE_URL = env_str(
            "WECHAT_API_BASE_URL",
            f"http://127.0.0.1:{self.WECHAT_SANDBOX_PORT}" if sandbox else WECHAT_API_BASE_URL,
        )
        self.WECHAT_PAY_BASE_URL = env_str(
            "WECHAT_PAY_BASE_URL",
            f"http://127.0.0.1:{self.WECHAT_SANDBOX_PORT}" if sandbox else WECHAT_PAY_BASE_URL,
        )

        self.WECHAT_CONNECT_TIMEOUT = float(env_str("WECHAT_CONNECT_TIMEOUT", "3"))
        self.WECHAT_READ_TIMEOUT = float(env_str("WECHAT_READ_TIMEOUT", "5"))
        self.WECHAT_MAX_ATTEMPTS = env_int("WECHAT_MAX_ATTEMPTS", 2)  # only for requests WeChat never saw

        # Files: only ciphertext reaches storage (app/core/vault.py).
        self.STORAGE_BACKEND = env_str("STORAGE_BACKEND", "local")  # local | s3
        self.STORAGE_LOCAL_ROOT = env_str("STORAGE_LOCAL_ROOT", str(INSTANCE_DIR / "objects"))
        self.S3_BUCKET = env_str("S3_BUCKET")
        self.S3_ENDPOINT_URL = env_str("S3_ENDPOINT_URL")  # unset: AWS; set for any S3-compatible store
        self.S3_REGION = env_str("S3_REGION", "cn-north-1")
        self.S3_ACCESS_KEY_ID = env_str("S3_ACCESS_KEY_ID")
        self.S3_SECRET_ACCESS_KEY = env_str("S3_SECRET_ACCESS_KEY")
        # Where WeChat (content checks) and browsers fetch signed media URLs from.
        self.PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", f"http://127.0.0.1:{env_int('WEB_PORT', 5000)}")
        self.MEDIA_URL_TTL_S = env_int("MEDIA_URL_TTL_S", 600)
        self.SHARE_LINK_TTL_S = env_int("SHARE_LINK_TTL_S", 7 * 24 * 3600)  # a shared preview's link
        # Data exports (policy §8(5)): the encrypted archive lives this long; its download link much less.
        self.EXPORT_TTL_DAYS = env_int("EXPORT_TTL_DAYS", 7)
        self.EXPORT_DOWNLOAD_URL_TTL_S = env_int("EXPORT_DOWNLOAD_URL_TTL_S", 600)

        # Portrait uploads (policy §2.1).
        self.UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 15 * 1024 * 1024)
        self.UPLOAD_MAX_PIXELS = env_int("UPLOAD_MAX_PIXELS", 40_000_000)
        self.UPLOAD_MIN_SIDE = env_int("UPLOAD_MIN_SIDE", 256)
        self.UPLOAD_UNCLAIMED_TTL_S = env_int("UPLOAD_UNCLAIMED_TTL_S", 30 * 60)
        self.SWEEP_UPLOADS_INTERVAL_S = env_int("SWEEP_UPLOADS_INTERVAL_S", 60)
        # Retention (policy §5; README "Retention"): data class → period → action, enforced daily by the
        # privacy.retention job (app/privacy/retention.py). Each period: RETENTION_<CLASS>_DAYS.
        self.RETENTION = {name: {"days": env_int(f"RETENTION_{name.upper()}_DAYS", days), "action": action}
                          for name, days, action in (
                              ("results", 90, "delete"), ("generation_jobs", 90, "delete"),
                              ("deleted_uploads", 90, "delete"), ("operation_logs", 180, "delete"),
                              ("login_sessions", 30, "delete"), ("sms_codes", 1, "delete"),
                              ("exports", 7, "delete"), ("orders_without_user", 0, "anonymise"),
                              ("orders", 3 * 365, "delete"), ("deletion_receipts", 3 * 365, "delete"),
                              ("deletion_log", 400, "delete"), ("support_tickets", 365, "delete"))}
        self.RETENTION_SWEEP_INTERVAL_S = env_int("RETENTION_SWEEP_INTERVAL_S", 24 * 3600)
        self.RETENTION_SWEEP_TIMEOUT_S = env_int("RETENTION_SWEEP_TIMEOUT_S", 3600)
        self.RETENTION_BATCH_SIZE = env_int("RETENTION_BATCH_SIZE", 1000)  # rows per transaction
        self.SERVICE_NAME = env_str("SERVICE_NAME", "miaohua")  # `flask privacy shutdown --confirm <this>`

        # Generation (policy §2.1: sources deleted when the job ends).
        self.GENERATION_BACKEND = env_str("GENERATION_BACKEND", "classical")  # classical | diffusion
        self.GENERATION_HEARTBEAT_TTL_S = env_int("GENERATION_HEARTBEAT_TTL_S", 30)
        self.GENERATION_JOB_TIMEOUT_S = env_int("GENERATION_JOB_TIMEOUT_S", 600)
        self.GENERATION_DEFAULT_SECONDS = env_int("GENERATION_DEFAULT_SECONDS", 5)
        self.SWEEP_GENERATION_INTERVAL_S = env_int("SWEEP_GENERATION_INTERVAL_S", 60)
        self.LIKENESS_CHECK_ENABLED = env_bool("LIKENESS_CHECK_ENABLED", True)
        self.LIKENESS_THRESHOLD = float(env_str("LIKENESS_THRESHOLD", "0.5"))
        # WeChat subscribe message when a job ends (unset: no message).
        self.SUBSCRIBE_TEMPLATE_JOB_DONE = env_str("SUBSCRIBE_TEMPLATE_JOB_DONE",
                                                   "job-done-template" if self.WECHAT_SANDBOX else None)
        self.SUBSCRIBE_MINIPROGRAM_STATE = env_str("SUBSCRIBE_MINIPROGRAM_STATE", "developer")
        self.FACE_CHECK_ENABLED = env_bool("FACE_CHECK_ENABLED", True)
        self.CONTENT_CHECK_ENABLED = env_bool("CONTENT_CHECK_ENABLED", True)
        self.CONTENT_CHECK_TIMEOUT_S = env_int("CONTENT_CHECK_TIMEOUT_S", 600)
        self.CONTENT_CHECK_TIMEOUT_POLICY = env_str("CONTENT_CHECK_TIMEOUT_POLICY", "reject")  # reject | accept
        # WeChat message push (content-check verdicts): Token and EncodingAESKey of the mini-program.
        self.WECHAT_PUSH_TOKEN = env_str("WECHAT_PUSH_TOKEN", SANDBOX_PUSH_TOKEN if self.WECHAT_SANDBOX else None)
        self.WECHAT_PUSH_AES_KEY = env_str("WECHAT_PUSH_AES_KEY",
                                           SANDBOX_PUSH_AES_KEY if self.WECHAT_SANDBOX else None)

        # WeChat Pay API v3. With the sandbox on and nothing set, the sandbox's development merchant is used
        # (keys generated on first use under WECHAT_SANDBOX_PAY_KEYS_DIR, shared with `make run`'s sandbox).
        self.WECHAT_PAY_MCHID = env_str("WECHAT_PAY_MCHID")
        self.WECHAT_PAY_PRIVATE_KEY = _read_secret("WECHAT_PAY_PRIVATE_KEY")  # PEM, or a path to one
        self.WECHAT_PAY_CERT_SERIAL = env_str("WECHAT_PAY_CERT_SERIAL")
        self.WECHAT_PAY_APIV3_KEY = env_str("WECHAT_PAY_APIV3_KEY")
        self.WECHAT_PAY_PUBLIC_KEY = _read_secret("WECHAT_PAY_PUBLIC_KEY")  # WeChat Pay public key (PEM or path)
        self.WECHAT_PAY_PUBLIC_KEY_ID = env_str("WECHAT_PAY_PUBLIC_KEY_ID")  # PUB_KEY_ID_…
        self.WECHAT_PAY_PLATFORM_CERTS = _read_secret("WECHAT_PAY_PLATFORM_CERTS")  # PEM bundle (switch-over)
        self.WECHAT_PAY_NOTIFY_URL = env_str("WECHAT_PAY_NOTIFY_URL")  # default: PUBLIC_BASE_URL + path
        self.WECHAT_SANDBOX_PAY_KEYS_DIR = env_str("WECHAT_SANDBOX_PAY_KEYS_DIR",
                                                   str(INSTANCE_DIR / "wechat_sandbox_pay"))
        self.ORDER_TTL_S = env_int("ORDER_TTL_S", 30 * 60)  # unpaid orders close after this
        self.ORDER_QUERY_AFTER_S = env_int("ORDER_QUERY_AFTER_S", 60)  # ask WeChat about orders unpaid this long
        self.PAY_NOTIFICATION_MAX_SKEW_S = env_int("PAY_NOTIFICATION_MAX_SKEW_S", 300)
        self.RECONCILE_ORDERS_INTERVAL_S = env_int("RECONCILE_ORDERS_INTERVAL_S", 60)
        self.REFUND_WINDOW_DAYS = env_int("REFUND_WINDOW_DAYS", 7)

        # Who runs the service (policy §11) and whom we share with (§6): served with the policy.
        self.OPERATOR_NAME = env_str("OPERATOR_NAME", "上海禹幻科技有限公司")
        self.OPERATOR_ADDRESS = env_str("OPERATOR_ADDRESS", "上海市徐汇区虹梅路 1900 号 6 楼 6-54 单元")
        self.OPERATOR_EMAIL = env_str("OPERATOR_EMAIL", "miaohua_server@sensetime.com")
        self.PROCESSORS = _processors(env_str("PROCESSORS_FILE"))
        self.MINOR_AGE = env_int("MINOR_AGE", 14)  # below this, a guardian must consent (§9)
        # §8: requests are answered within this many working days; holidays and make-up workdays (调休)
        # are comma-separated ISO dates, to update each year from the State Council's notice.
        self.RIGHTS_RESPONSE_WORKING_DAYS = env_int("RIGHTS_RESPONSE_WORKING_DAYS", 15)
        self.PUBLIC_HOLIDAYS = env_str("PUBLIC_HOLIDAYS", "")  # e.g. "2026-10-01,2026-10-02"
        self.EXTRA_WORKDAYS = env_str("EXTRA_WORKDAYS", "")

        # Accounts and sessions (policy §4, §7).
        self.SESSION_TTL_DAYS = env_int("SESSION_TTL_DAYS", 30)
        self.MAX_SESSIONS_PER_USER = env_int("MAX_SESSIONS_PER_USER", 5)
        self.SESSION_TOUCH_INTERVAL_S = env_int("SESSION_TOUCH_INTERVAL_S", 60)
        # Per-process cache of verified bearer tokens, invalidated through Redis "auth epochs" (0: off).
        self.AUTH_CACHE_TTL_S = float(env_str("AUTH_CACHE_TTL_S", "10"))
        self.AUTH_CACHE_MAX_ENTRIES = env_int("AUTH_CACHE_MAX_ENTRIES", 10_000)
        self.AUTH_CACHE_REDIS_TIMEOUT_S = float(env_str("AUTH_CACHE_REDIS_TIMEOUT_S", "0.25"))
        self.AUTH_CACHE_REDIS_RETRY_S = float(env_str("AUTH_CACHE_REDIS_RETRY_S", "2"))
        self.COOKIE_SESSIONS = env_bool("COOKIE_SESSIONS", False)  # the API is bearer-only

        # Staff console (policy §7): its own cookie sessions, separate from users' bearer tokens.
        self.STAFF_COOKIE_NAME = env_str("STAFF_COOKIE_NAME", "mh_staff")
        self.STAFF_COOKIE_SECURE = env_bool("STAFF_COOKIE_SECURE", True)  # `make run` on http://localhost: off
        self.STAFF_SESSION_IDLE_TIMEOUT_S = env_int("STAFF_SESSION_IDLE_TIMEOUT_S", 30 * 60)
        self.STAFF_SESSION_MAX_AGE_S = env_int("STAFF_SESSION_MAX_AGE_S", 12 * 3600)
        self.STAFF_MAX_SESSIONS = env_int("STAFF_MAX_SESSIONS", 2)  # per staff account; the oldest is revoked
        self.STAFF_LOCKOUT_ATTEMPTS = env_int("STAFF_LOCKOUT_ATTEMPTS", 5)
        self.STAFF_LOCKOUT_S = env_int("STAFF_LOCKOUT_S", 15 * 60)
        self.STAFF_TOTP_ISSUER = env_str("STAFF_TOTP_ISSUER", "Miaohua Staff")
        self.STAFF_PASSWORD_HASH_PROFILE = env_str("STAFF_PASSWORD_HASH_PROFILE", "rfc9106_low_memory")
        # Support tickets (§2.2): deleted this long after they are closed (README "Retention").
        self.TICKET_MAX_OPEN_PER_USER = env_int("TICKET_MAX_OPEN_PER_USER", 5)
        self.TICKET_AUTO_CLOSE_DAYS = env_int("TICKET_AUTO_CLOSE_DAYS", 14)  # resolved and left alone: closed
        self.RATE_LIMIT_TICKET_MESSAGES = env_str("RATE_LIMIT_TICKET_MESSAGES", "6/minute,60/day")  # new tickets too
        # Prometheus metrics (§7 monitoring): /metrics needs `Authorization: Bearer <METRICS_TOKEN>`;
        # unset means the endpoint answers 404 (production requires it set).
        self.METRICS_TOKEN = env_str("METRICS_TOKEN", "dev-metrics-token" if self.WECHAT_SANDBOX else None)
        self.ALERT_DELETION_BACKLOG_AGE_S = env_int("ALERT_DELETION_BACKLOG_AGE_S", 5 * 60)
        self.ALERT_QUEUE_AGE_S = {"generation": env_int("ALERT_QUEUE_AGE_GENERATION_S", 15 * 60),
                                  "default": env_int("ALERT_QUEUE_AGE_DEFAULT_S", 60),
                                  "maintenance": env_int("ALERT_QUEUE_AGE_MAINTENANCE_S", 10 * 60)}
        self.DEVICE_ACCOUNTS_FLAG_THRESHOLD = env_int("DEVICE_ACCOUNTS_FLAG_THRESHOLD", 3)
        # SMS login: "sandbox" keeps codes for the developer page; "disabled" turns SMS login off.
        self.SMS_PROVIDER = env_str("SMS_PROVIDER", self.default_sms_provider())
        self.SMS_CODE_TTL_S = env_int("SMS_CODE_TTL_S", 300)
        self.SMS_CODE_MAX_ATTEMPTS = env_int("SMS_CODE_MAX_ATTEMPTS", 5)
        # Rate limits, "COUNT/PERIOD" with PERIOD second|minute|hour|day.
        self.RATE_LIMIT_LOGIN_PER_IP = env_str("RATE_LIMIT_LOGIN_PER_IP", "30/minute")
        self.RATE_LIMIT_LOGIN_PER_DEVICE = env_str("RATE_LIMIT_LOGIN_PER_DEVICE", "10/minute")
        self.RATE_LIMIT_SMS_PER_PHONE = env_str("RATE_LIMIT_SMS_PER_PHONE", "1/minute,5/hour,10/day")
        self.RATE_LIMIT_SMS_PER_IP = env_str("RATE_LIMIT_SMS_PER_IP", "20/hour")
        self.RATE_LIMIT_SMS_PER_DEVICE = env_str("RATE_LIMIT_SMS_PER_DEVICE", "5/hour")
        self.RATE_LIMIT_SMS_VERIFY_PER_PHONE = env_str("RATE_LIMIT_SMS_VERIFY_PER_PHONE", "10/hour")
        # API conventions (docs/api-conventions.md): Idempotency-Key lifetime, how long a duplicate waits
        # for the first request's answer before 409 idempotency_key_in_progress, how often expired keys go.
        self.IDEMPOTENCY_KEY_TTL_S = env_int("IDEMPOTENCY_KEY_TTL_S", 24 * 3600)
        self.IDEMPOTENCY_WAIT_S = float(env_str("IDEMPOTENCY_WAIT_S", "10"))
        self.SWEEP_IDEMPOTENCY_INTERVAL_S = env_int("SWEEP_IDEMPOTENCY_INTERVAL_S", 3600)

    @staticmethod
    def default_sandbox() -> bool:
        return True

    @staticmethod
    def default_sms_provider() -> str:
        return "sandbox"

    @staticmethod
    def _engine_options(url: str) -> dict[str, Any]:
        if url.startswith("postgresql"):
            return {
                "pool_pre_ping": True,
                "pool_size": env_int("DATABASE_POOL_SIZE", 5),
                "max_overflow": env_int("DATABASE_MAX_OVERFLOW", 5),
                "connect_args": {"connect_timeout": env_int("DATABASE_CONNECT_TIMEOUT", 3)},
            }
        return {}

    def validate(self) -> None:
        """Fail fast on settings that cannot work; stricter in production."""
        if self.REDIS_URL and self.REDIS_URL.startswith("fakeredis://") and not self.TESTING:
            raise ConfigError("REDIS_URL=fakeredis:// (in-process fake) is for tests only")
        if self.STORAGE_BACKEND not in ("local", "s3") or (self.STORAGE_BACKEND == "s3" and not self.S3_BUCKET):
            raise ConfigError("STORAGE_BACKEND is 'local' or 's3' (which needs S3_BUCKET)")
        if self.CONTENT_CHECK_TIMEOUT_POLICY not in ("reject", "accept"):
            raise ConfigError("CONTENT_CHECK_TIMEOUT_POLICY is 'reject' or 'accept'")
        if self.STAFF_PASSWORD_HASH_PROFILE not in ("rfc9106_low_memory", "test"):
            raise ConfigError("STAFF_PASSWORD_HASH_PROFILE is 'rfc9106_low_memory' or 'test'")
        if self.SMS_PROVIDER not in ("sandbox", "disabled"):
            raise ConfigError(f"SMS_PROVIDER must be 'sandbox' or 'disabled', got {self.SMS_PROVIDER!r}")
        if self.ENCRYPTION_KEY:
            from app.core.crypto import Keyring

            try:
                Keyring.from_config(self.ENCRYPTION_KEY, self.ENCRYPTION_KEY_ID, self.ENCRYPTION_OLD_KEYS)
            except ValueError as exc:
                raise ConfigError(str(exc)) from exc

    def as_dict(self) -> dict[str, Any]:
        names = [n for n in dir(self) if n.isupper()]
        return {name: getattr(self, name) for name in names}


class DevelopmentConfig(BaseConfig):
    ENV_NAME = "development"
    DEBUG = False  # the Werkzeug debugger executes code: never on by default


class TestingConfig(BaseConfig):
    ENV_NAME = "testing"
    TESTING = True

    def __init__(self) -> None:
        super().__init__()
        # A file, not :memory:, so every connection (test thread, live server, worker) has its own
        # transaction, as against a real server.
        default_db = Path(tempfile.gettempdir()) / f"miaohua-test-{os.getpid()}.db"
        self.SQLALCHEMY_DATABASE_URI = _database_url(env_str("TEST_DATABASE_URL", f"sqlite:///{default_db}"))
        self.SQLALCHEMY_ENGINE_OPTIONS = self._engine_options(self.SQLALCHEMY_DATABASE_URI)
        # Tests without a real Redis use an in-process fakeredis.
        self.REDIS_URL = env_str("TEST_REDIS_URL", "fakeredis://")
        self.STORAGE_LOCAL_ROOT = str(Path(tempfile.gettempdir()) / f"miaohua-test-objects-{os.getpid()}")
        self.JOB_RESULT_TTL = 60
        self.LOG_FORMAT = "json"
        # argon2's cheapest parameters: the suite logs staff in hundreds of times (production refuses this).
        self.STAFF_PASSWORD_HASH_PROFILE = env_str("STAFF_PASSWORD_HASH_PROFILE", "test")


class ProductionConfig(BaseConfig):
    ENV_NAME = "production"

    REQUIRED_SECRETS = ("SECRET_KEY", "ENCRYPTION_KEY", "LOOKUP_HASH_KEY", "WECHAT_APPID", "WECHAT_SECRET",
                        "WECHAT_PUSH_TOKEN", "WECHAT_PUSH_AES_KEY", "PUBLIC_BASE_URL", "WECHAT_PAY_MCHID",
                        "WECHAT_PAY_PRIVATE_KEY", "WECHAT_PAY_CERT_SERIAL", "WECHAT_PAY_APIV3_KEY",
                        "METRICS_TOKEN")

    def __init__(self) -> None:
        super().__init__()
        # Production never falls back to development defaults for secrets or storage.
        self.SECRET_KEY = env_str("SECRET_KEY")
        self.ENCRYPTION_KEY = env_str("ENCRYPTION_KEY")
        self.LOOKUP_HASH_KEY = env_str("LOOKUP_HASH_KEY")
        self.PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL")
        self.SQLALCHEMY_DATABASE_URI = _database_url(env_str("DATABASE_URL", ""))
        self.SQLALCHEMY_ENGINE_OPTIONS = self._engine_options(self.SQLALCHEMY_DATABASE_URI)

    @staticmethod
    def default_sandbox() -> bool:
        return False

    @staticmethod
    def default_sms_provider() -> str:
        return "disabled"

    def validate(self) -> None:
        super().validate()
        missing = [name for name in self.REQUIRED_SECRETS if not getattr(self, name)]
        if missing:
            raise ConfigError(f"production refuses to start without: {', '.join(missing)}")
        if self.WECHAT_SANDBOX:
            raise ConfigError("production refuses to start with WECHAT_SANDBOX enabled")
        if self.STAFF_PASSWORD_HASH_PROFILE != "rfc9106_low_memory":  # noqa: S105 - a profile name
            raise ConfigError("production hashes staff passwords with STAFF_PASSWORD_HASH_PROFILE=rfc9106_low_memory")
        if self.SMS_PROVIDER == "sandbox":
            raise ConfigError("production refuses SMS_PROVIDER=sandbox (it keeps codes for a developer page)")
        if self.WECHAT_API_BASE_URL != WECHAT_API_BASE_URL or self.WECHAT_PAY_BASE_URL != WECHAT_PAY_BASE_URL:
            raise ConfigError("production talks to WeChat's official hosts only; unset WECHAT_*_BASE_URL")
        if not (self.PUBLIC_BASE_URL or "").startswith("https://"):
            raise ConfigError("production needs PUBLIC_BASE_URL on https://")
        if not self.SQLALCHEMY_DATABASE_URI.startswith("postgresql"):
            raise ConfigError("production needs DATABASE_URL pointing at PostgreSQL")
        if not self.REDIS_URL or not self.REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError("production needs REDIS_URL pointing at a Redis server")


CONFIGS: dict[str, type[BaseConfig]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def load_config(name: str | None = None) -> BaseConfig:
    """Build the config named by ``name`` or ``MIAOHUA_ENV`` (default ``development``)."""
    name = name or env_str("MIAOHUA_ENV", "development")
    try:
        config_class = CONFIGS[name]
    except KeyError as exc:
        raise ConfigError(f"unknown MIAOHUA_ENV {name!r}; use one of {sorted(CONFIGS)}") from exc
    config = config_class()
    config.validate()
    return config
