"""Every setting, declared once: name, type, default, what it is for, whether it is a secret and which
profiles require it. pydantic-settings reads them from the environment and reports every malformed
value at once; ``app/config.py`` turns them into the Flask config of a profile (development, testing,
staging, production), where a few defaults are derived from other settings (the sandbox's credentials,
the instance folder). ``.env.example`` and the settings table of docs/configuration.md are generated from
this declaration (``flask config env-example``, ``flask config table``) and a test fails when they drift.

Settings read by other processes than the app (gunicorn's, the diffusion worker's, ``make run``'s) are
declared here too, so one file lists everything an operator may set.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PRODUCTION_PROFILES = ("staging", "production")
RATE_LIMIT_SETTING = re.compile(r"^RATE_LIMIT_[A-Z_]+$")


def setting(default: Any = None, doc: str = "", *, group: str, secret: bool = False, required: bool = False,
            dev_default: Any = None, derived: str | None = None, example: str | None = None) -> Any:
    """One declared setting. ``required``: production and staging refuse to start without it;
    ``dev_default``: the value outside production when unset; ``derived``: how an unset value is worked
    out from other settings (said in the docs); ``example``: what .env.example shows."""
    extra = {"group": group, "secret": secret, "required": required, "dev_default": dev_default,
             "derived": derived, "example": example}
    return Field(default, description=doc, json_schema_extra=extra)


Seconds = Annotated[int, Field(ge=0)]
Positive = Annotated[int, Field(ge=1)]


class Settings(BaseSettings):
    """The environment, typed. Empty values count as unset (as ``VAR=`` in an env file)."""

    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", env_ignore_empty=True,
                                      validate_default=False)

    # --- profile and secrets -------------------------------------------------------------------------------
    MIAOHUA_ENV: Literal["development", "testing", "staging", "production"] = setting(
        "development", "Profile: development (make run), testing, staging (production with the WeChat sandbox "
        "allowed), production (validates secrets and backends at start-up)", group="core", example="production")
    MIAOHUA_INSTANCE_DIR: str | None = setting(
        None, "Local state: the development SQLite database, local object storage, the sandbox's keys",
        group="core", derived="instance/ beside the code")
    SECRET_KEY: str | None = setting(None, "Flask's signing key (share links, signed media URLs)", group="core",
                                     secret=True, required=True, dev_default="dev-secret-key-not-for-production")
    ENCRYPTION_KEY: str | None = setting(
        None, "Key-encryption key of sensitive fields and files: 32 bytes, urlsafe base64 "
        "(`flask keys generate`)", group="core", secret=True, required=True,
        dev_default="ZGV2LWVuY3J5cHRpb24ta2V5LW5vdC1mb3ItcHJvZCE=")
    ENCRYPTION_KEY_ID: str = setting("k1", "Id of ENCRYPTION_KEY (stored beside every wrapped key)", group="core")
    ENCRYPTION_OLD_KEYS: str | None = setting(
        None, "Rotation: earlier keys that still decrypt, `id:key,…` (README, Operations)", group="core",
        secret=True)
    LOOKUP_HASH_KEY: str | None = setting(
        None, "HMAC key of lookup hashes (phone, openid, device); changing it orphans every lookup",
        group="core", secret=True, required=True, dev_default="dev-lookup-hash-key-not-for-production")
    SERVICE_NAME: str = setting("miaohua", "Name to confirm `flask privacy shutdown --confirm <this>`", group="core")

    # --- database, queues, HTTP ----------------------------------------------------------------------------
    DATABASE_URL: str | None = setting(None, "PostgreSQL in production (`postgresql://…`)", group="database",
                                       required=True, derived="SQLite under MIAOHUA_INSTANCE_DIR outside production",
                                       example="postgresql://miaohua:…@127.0.0.1:5432/miaohua")
    DATABASE_POOL_SIZE: Positive = setting(5, "PostgreSQL connections kept per process", group="database")
    DATABASE_MAX_OVERFLOW: Seconds = setting(5, "Extra PostgreSQL connections per process under load",
                                             group="database")
    DATABASE_CONNECT_TIMEOUT: Positive = setting(3, "Seconds to wait for PostgreSQL to accept", group="database")
    DATABASE_PING_AFTER_IDLE_S: Annotated[float, Field(ge=0)] = setting(
        0.5, "Seconds a pooled PostgreSQL connection may sit idle and still be used without a ping (0: always ping)",
        group="database")
    REDIS_URL: str | None = setting(None, "Redis of the queues and shared caches (`redis://`, `rediss://`)",
                                    group="database", required=True,
                                    derived="the embedded queue server of `make run`",
                                    example="redis://127.0.0.1:6379/0")
    EMBEDDED_REDIS_PORT: Positive = setting(6399, "Where `make run` serves its embedded queue", group="development")
    REDIS_SOCKET_TIMEOUT: float = setting(5.0, "Seconds before a Redis call gives up", group="database")
    JOB_DEFAULT_TIMEOUT: Positive = setting(300, "Job time limit in seconds (per-task overrides in @task)",
                                            group="database")
    JOB_FAILURE_TTL: Seconds = setting(7 * 24 * 3600, "Seconds a failed job stays inspectable", group="database")
    JOB_RESULT_TTL: Seconds = setting(3600, "Seconds a finished job's result is kept", group="database")
    MAX_CONTENT_LENGTH: Positive = setting(16 * 1024 * 1024, "Largest request body in bytes (413 above)",
                                           group="http")
    MAX_JSON_BYTES: Positive = setting(64 * 1024, "Largest JSON body in bytes", group="http")
    TRUSTED_PROXIES: Seconds = setting(0, "Proxies in front whose X-Forwarded-For/-Proto count (1 behind nginx)",
                                       group="http", example="1")
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = setting("INFO", "Log level", group="http")
    LOG_FORMAT: Literal["json", "text"] = setting("json", "json lines, or text for humans", group="http")
    IDEMPOTENCY_KEY_TTL_S: Positive = setting(24 * 3600, "How long an Idempotency-Key answers a retry (seconds)",
                                              group="http")
    IDEMPOTENCY_WAIT_S: float = setting(10.0, "A duplicate waits this long for the first request's answer, then "
                                              "409 idempotency_key_in_progress", group="http")
    SWEEP_IDEMPOTENCY_INTERVAL_S: Positive = setting(3600, "Seconds between sweeps of expired keys", group="http")
    OPENAPI_CHECK_ERRORS: bool = setting(False, "Tests only: fail an answer whose error code the document does not "
                                                "list for its operation", group="tests")
    GUNICORN_BIND: str = setting("0.0.0.0:8000", "gunicorn's address (app/gunicorn_conf.py)", group="http",
                                 example="127.0.0.1:8000")
    GUNICORN_WORKERS: Positive = setting(4, "gunicorn worker processes", group="http")
    GUNICORN_TIMEOUT: Positive = setting(30, "Seconds before gunicorn restarts a stuck worker", group="http")
    GUNICORN_WORKER_CLASS: Literal["sync", "gthread"] = setting(
        "gthread", "gunicorn worker class (chosen by measurement: docs/capacity.md)", group="http")
    GUNICORN_THREADS: Positive = setting(4, "Threads per gthread worker (each may hold a PostgreSQL connection: "
                                            "keep DATABASE_POOL_SIZE >= this)", group="http")
    PROMETHEUS_MULTIPROC_DIR: str | None = setting(
        None, "An empty folder per process group (gunicorn, each forking worker) for /metrics", group="monitoring")

    # --- WeChat ---------------------------------------------------------------------------------------------
    WECHAT_SANDBOX: bool | None = setting(None, "Talk to the WeChat sandbox (production refuses it)",
                                          group="wechat", derived="on in development and testing, off otherwise")
    WECHAT_SANDBOX_PORT: Positive = setting(5100, "Where `make run` starts the sandbox", group="development")
    DEMO_ENABLED: bool | None = setting(
        None, "Serve /demo/ (the simulated mini-program) and `flask demo run`, from devkit/demo (not in the "
        "production image; production refuses it)", group="development",
        derived="on in development and testing, off otherwise")
    WECHAT_SANDBOX_PAY_KEYS_DIR: str | None = setting(
        None, "The sandbox merchant's keys, shared by the app and the sandbox", group="development",
        derived="MIAOHUA_INSTANCE_DIR/wechat_sandbox_pay")
    WECHAT_APPID: str | None = setting(None, "The mini-program's AppID", group="wechat", required=True,
                                       derived="the sandbox's app when the sandbox is on", example="wx…")
    WECHAT_SECRET: str | None = setting(None, "The mini-program's AppSecret", group="wechat", secret=True,
                                        required=True, derived="the sandbox's app when the sandbox is on")
    WECHAT_API_BASE_URL: str | None = setting(None, "WeChat's API host (production: the official one only)",
                                              group="wechat", derived="https://api.weixin.qq.com, or the sandbox")
    WECHAT_PAY_BASE_URL: str | None = setting(None, "WeChat Pay's API host (production: the official one only)",
                                              group="wechat", derived="https://api.mch.weixin.qq.com, or the sandbox")
    WECHAT_CONNECT_TIMEOUT: float = setting(3.0, "Seconds to connect to WeChat", group="wechat")
    WECHAT_READ_TIMEOUT: float = setting(5.0, "Seconds to wait for WeChat's answer", group="wechat")
    WECHAT_MAX_ATTEMPTS: Positive = setting(2, "Attempts for requests WeChat never saw", group="wechat")
    WECHAT_PUSH_TOKEN: str | None = setting(None, "Message push Token (content-check verdicts)", group="wechat",
                                            secret=True, required=True, derived="the sandbox's with the sandbox on")
    WECHAT_PUSH_AES_KEY: str | None = setting(None, "Message push EncodingAESKey (43 characters)", group="wechat",
                                              secret=True, required=True,
                                              derived="the sandbox's with the sandbox on")
    SUBSCRIBE_TEMPLATE_JOB_DONE: str | None = setting(
        None, "Subscribe-message template of 'job finished' (unset: none sent)", group="wechat",
        derived="the sandbox's template with the sandbox on")
    SUBSCRIBE_TEMPLATE_NOTICE: str | None = setting(
        None, "Subscribe-message template of staff notices (thing1 title, thing2 text, time3); unset: in-app and "
        "SMS only", group="wechat", derived="the sandbox's notice-template with the sandbox on")
    SUBSCRIBE_MINIPROGRAM_STATE: Literal["developer", "trial", "formal"] = setting(
        "developer", "Which mini-program version a subscribe message opens", group="wechat", example="formal")

    # --- WeChat Pay -----------------------------------------------------------------------------------------
    WECHAT_PAY_MCHID: str | None = setting(None, "Merchant id", group="pay", required=True,
                                           derived="the sandbox's development merchant with the sandbox on")
    WECHAT_PAY_PRIVATE_KEY: str | None = setting(None, "Merchant API private key: PEM, or a file path", group="pay",
                                                 secret=True, required=True)
    WECHAT_PAY_CERT_SERIAL: str | None = setting(None, "Serial of the merchant API certificate", group="pay",
                                                 required=True)
    WECHAT_PAY_APIV3_KEY: str | None = setting(None, "APIv3 key (decrypts notifications)", group="pay", secret=True,
                                               required=True)
    WECHAT_PAY_PUBLIC_KEY: str | None = setting(None, "WeChat Pay public key: PEM or a file path", group="pay")
    WECHAT_PAY_PUBLIC_KEY_ID: str | None = setting(None, "Id of that key (PUB_KEY_ID_…)", group="pay")
    WECHAT_PAY_PLATFORM_CERTS: str | None = setting(None, "Platform certificates, PEM bundle or a file path",
                                                    group="pay")
    WECHAT_PAY_PREVIOUS_PUBLIC_KEY: str | None = setting(
        None, "Switching public keys: the previous WeChat Pay public key (PEM or path), accepted until _UNTIL",
        group="pay")
    WECHAT_PAY_PREVIOUS_PUBLIC_KEY_ID: str | None = setting(None, "Id of the previous public key", group="pay")
    WECHAT_PAY_PREVIOUS_PUBLIC_KEY_UNTIL: str | None = setting(
        None, "End of the overlap: ISO 8601 with a zone (without it the previous key is never accepted)", group="pay")
    WECHAT_PAY_CERT_REFRESH_INTERVAL_S: Positive = setting(
        60, "An unknown certificate serial downloads the platform certificates at most this often (all processes)",
        group="pay")
    WECHAT_PAY_NOTIFY_URL: str | None = setting(None, "Payment notification URL", group="pay",
                                                derived="PUBLIC_BASE_URL + /api/v1/payments/wechat/notify")
    ORDER_TTL_S: Positive = setting(30 * 60, "Seconds before an unpaid order closes", group="pay")
    ORDER_QUERY_AFTER_S: Positive = setting(60, "Ask WeChat about orders unpaid this many seconds", group="pay")
    PAY_NOTIFICATION_MAX_SKEW_S: Positive = setting(300, "Largest clock skew of a notification, seconds",
                                                    group="pay")
    RECONCILE_ORDERS_INTERVAL_S: Positive = setting(60, "Seconds between order reconciliation sweeps", group="pay")
    REFUND_WINDOW_DAYS: Seconds = setting(7, "Days after payment a refund may be asked", group="pay")

    # --- files, uploads, generation -------------------------------------------------------------------------
    STORAGE_BACKEND: Literal["local", "s3"] = setting("local", "Encrypted object storage: local folder or S3",
                                                      group="storage", example="s3")
    STORAGE_LOCAL_ROOT: str | None = setting(None, "Folder of the local backend", group="storage",
                                             derived="MIAOHUA_INSTANCE_DIR/objects")
    S3_BUCKET: str | None = setting(None, "Bucket (required with STORAGE_BACKEND=s3)", group="storage",
                                    example="miaohua")
    S3_ENDPOINT_URL: str | None = setting(None, "Any S3-compatible endpoint (unset: AWS)", group="storage")
    S3_REGION: str = setting("cn-north-1", "Region", group="storage")
    S3_ACCESS_KEY_ID: str | None = setting(None, "Access key id", group="storage")
    S3_SECRET_ACCESS_KEY: str | None = setting(None, "Secret access key", group="storage", secret=True)
    PUBLIC_BASE_URL: str | None = setting(None, "https origin WeChat and phones reach (signed media URLs)",
                                          group="storage", required=True,
                                          derived="http://127.0.0.1:WEB_PORT outside production",
                                          example="https://api.example.com")
    WEB_PORT: Positive = setting(5000, "`make run`'s web port", group="development")
    MEDIA_URL_TTL_S: Positive = setting(600, "Life of a signed media URL, seconds", group="storage")
    SHARE_LINK_TTL_S: Positive = setting(7 * 24 * 3600, "Life of a share link to a watermarked preview",
                                         group="storage")
    EXPORT_TTL_DAYS: Positive = setting(7, "Days an export archive is kept", group="storage")
    EXPORT_DOWNLOAD_URL_TTL_S: Positive = setting(600, "Life of an export's download link", group="storage")
    UPLOAD_MAX_BYTES: Positive = setting(15 * 1024 * 1024, "Largest portrait in bytes", group="uploads")
    UPLOAD_MAX_PIXELS: Positive = setting(40_000_000, "Largest portrait in pixels (checked before decoding)",
                                          group="uploads")
    UPLOAD_MIN_SIDE: Positive = setting(256, "Smallest side of a portrait in pixels", group="uploads")
    UPLOAD_UNCLAIMED_TTL_S: Positive = setting(30 * 60, "Unclaimed uploads are deleted after this", group="uploads")
    SWEEP_UPLOADS_INTERVAL_S: Positive = setting(60, "Seconds between upload sweeps", group="uploads")
    FACE_CHECK_ENABLED: bool = setting(True, "Refuse photos without exactly one usable face", group="uploads")
    CONTENT_CHECK_ENABLED: bool = setting(True, "WeChat's media content check on every upload", group="uploads")
    CONTENT_CHECK_TIMEOUT_S: Positive = setting(600, "Seconds to wait for WeChat's verdict", group="uploads")
    CONTENT_CHECK_TIMEOUT_POLICY: Literal["reject", "accept"] = setting(
        "reject", "What a photo becomes when WeChat never answers", group="uploads")
    GENERATION_BACKEND: Literal["classical", "diffusion"] = setting(
        "classical", "classical (CPU) or diffusion (GPU workers)", group="generation")
    GENERATION_HEARTBEAT_TTL_S: Positive = setting(30, "A running job's heartbeat life (dead-worker detection)",
                                                   group="generation")
    GENERATION_JOB_TIMEOUT_S: Positive = setting(600, "Time limit of a generation job", group="generation")
    GENERATION_DEFAULT_SECONDS: Positive = setting(5, "First estimate of a job's duration", group="generation")
    SWEEP_GENERATION_INTERVAL_S: Positive = setting(60, "Seconds between generation sweeps", group="generation")
    GENERATION_POLL_CACHE_TTL_S: int = setting(600, "Life of a cached job answer in Redis (0: off)",
                                               group="generation")
    LIKENESS_CHECK_ENABLED: bool = setting(True, "Check a result still looks like the person", group="generation")
    LIKENESS_THRESHOLD: float = setting(0.5, "Face-geometry likeness below which a result fails",
                                        group="generation")
    DIFFUSION_MODEL_DIR: str | None = setting(None, "A local diffusers folder (safetensors; never downloaded)",
                                              group="generation")
    DIFFUSION_DEVICE: str | None = setting(None, "torch device (unset: cuda if available)", group="generation")
    DIFFUSION_DTYPE: str | None = setting(None, "float16 / float32 (unset: float16 on cuda)", group="generation")

    AIGC_LABEL_KEY: str | None = setting(
        None, "HMAC key of the AI-content labels' integrity codes (GB 45438-2025, app/generation/aigc.py)",
        group="generation", secret=True, required=True, dev_default="dev-aigc-label-key-not-for-production")
    AIGC_CONTENT_PRODUCER: str = setting("秒画 Miaohua", "ContentProducer of every generated file's label",
                                         group="generation")
    AIGC_CONTENT_PROPAGATOR: str = setting("秒画 Miaohua", "ContentPropagator when a share link serves a file",
                                           group="generation")

    # --- privacy, retention, policy -------------------------------------------------------------------------
    RETENTION_RESULTS_DAYS: Seconds = setting(90, "Generated results", group="retention")
    RETENTION_GENERATION_JOBS_DAYS: Seconds = setting(90, "Generation job rows", group="retention")
    RETENTION_DELETED_UPLOADS_DAYS: Seconds = setting(90, "Rows of deleted uploads", group="retention")
    RETENTION_OPERATION_LOGS_DAYS: Seconds = setting(180, "Users' operation logs", group="retention")
    RETENTION_LOGIN_SESSIONS_DAYS: Seconds = setting(30, "Ended login sessions", group="retention")
    RETENTION_SMS_CODES_DAYS: Seconds = setting(1, "SMS codes", group="retention")
    RETENTION_EXPORTS_DAYS: Seconds = setting(7, "Export archives", group="retention")
    RETENTION_ORDERS_WITHOUT_USER_DAYS: Seconds = setting(0, "Orders of cancelled accounts (anonymised)",
                                                          group="retention")
    RETENTION_ORDERS_DAYS: Seconds = setting(3 * 365, "Orders (kept by law)", group="retention")
    RETENTION_DELETION_RECEIPTS_DAYS: Seconds = setting(3 * 365, "Deletion receipts", group="retention")
    RETENTION_DELETION_LOG_DAYS: Seconds = setting(400, "The deletion log (replayed after a restore)",
                                                   group="retention")
    RETENTION_SUPPORT_TICKETS_DAYS: Seconds = setting(365, "Closed support tickets", group="retention")
    DELETION_LOG_COPY_INTERVAL_S: Positive = setting(
        300, "Seconds between sweeps copying the deletion log to object storage (copies also follow each commit)",
        group="retention")
    DELETION_REPLAY_MARGIN_S: Seconds = setting(
        3600, "After a restore, replay starts this long before the restored log's newest entry", group="retention")
    RETENTION_SWEEP_INTERVAL_S: Positive = setting(24 * 3600, "Seconds between retention sweeps", group="retention")
    RETENTION_SWEEP_TIMEOUT_S: Positive = setting(3600, "Time limit of a retention sweep", group="retention")
    RETENTION_BATCH_SIZE: Positive = setting(1000, "Rows per retention transaction", group="retention")
    OPERATOR_NAME: str = setting("上海禹幻科技有限公司", "The operator named in the policy (§11)", group="policy")
    OPERATOR_ADDRESS: str = setting("上海市徐汇区虹梅路 1900 号 6 楼 6-54 单元", "The operator's address",
                                    group="policy")
    OPERATOR_EMAIL: str = setting("miaohua_server@sensetime.com", "Privacy contact", group="policy")
    PROCESSORS_FILE: str | None = setting(None, "JSON list of processors/SDKs (§6) replacing the built-in one",
                                          group="policy")
    MINOR_AGE: Positive = setting(14, "Below this age a guardian must consent (§9)", group="policy")
    CONSENT_STANDING_CACHE_TTL_S: int = setting(300, "Life of a cached accepted policy standing in Redis (0: off)",
                                                group="policy")
    RIGHTS_RESPONSE_WORKING_DAYS: Positive = setting(15, "Working days to answer a rights request (§8)",
                                                     group="policy")
    PUBLIC_HOLIDAYS: str = setting("", "Statutory holidays overriding the chinese-calendar package (or declaring a "
                                   "year it does not know), ISO dates, comma-separated", group="policy")
    EXTRA_WORKDAYS: str = setting("", "Adjusted working days (调休) overriding the package, ISO dates, comma-separated",
                                  group="policy")
    NOTICE_SEND_RATE_LIMIT: str = setting("3/hour,10/day", "Notices a staff member may send (app/notices)",
                                          group="policy")
    NOTICE_BATCH_SIZE: Positive = setting(200, "Users per transaction when a notice is sent", group="policy")
    NOTICE_JOB_TIMEOUT_S: Positive = setting(3600, "Time limit of a sending job (it resumes after)", group="policy")
    NOTICE_RESUME_INTERVAL_S: Positive = setting(300, "Seconds between re-queues of stalled sendings",
                                                 group="policy")

    # --- accounts, staff, limits, monitoring ----------------------------------------------------------------
    SESSION_TTL_DAYS: Positive = setting(30, "Days a login session lives", group="accounts")
    MAX_SESSIONS_PER_USER: Positive = setting(5, "Login sessions per user (the oldest ends)", group="accounts")
    SESSION_TOUCH_INTERVAL_S: Positive = setting(60, "Seconds between last-use writes of a session",
                                                 group="accounts")
    AUTH_CACHE_TTL_S: float = setting(10.0, "Per-process token cache life (0: off)", group="accounts")
    AUTH_CACHE_MAX_ENTRIES: Positive = setting(10_000, "Per-process token cache size", group="accounts")
    AUTH_CACHE_REDIS_TIMEOUT_S: float = setting(0.25, "Redis timeout of the auth epoch check", group="accounts")
    AUTH_CACHE_REDIS_RETRY_S: float = setting(2.0, "Seconds before retrying Redis after a failure",
                                              group="accounts")
    COOKIE_SESSIONS: bool = setting(False, "Cookie sessions for users (the API is bearer-only)", group="accounts")
    SMS_PROVIDER: Literal["sandbox", "disabled"] | None = setting(
        None, "SMS codes: sandbox (developer page; production refuses it) or disabled", group="accounts",
        derived="sandbox in development and testing, disabled otherwise")
    SMS_CODE_TTL_S: Positive = setting(300, "Life of an SMS code", group="accounts")
    SMS_CODE_MAX_ATTEMPTS: Positive = setting(5, "Wrong attempts before an SMS code dies", group="accounts")
    DEVICE_ACCOUNTS_FLAG_THRESHOLD: Positive = setting(3, "Accounts on one device before a risk flag",
                                                       group="accounts")
    RATE_LIMIT_LOGIN_PER_IP: str = setting("30/minute", "Logins per address", group="limits")
    RATE_LIMIT_LOGIN_PER_DEVICE: str = setting("10/minute", "Logins per device", group="limits")
    RATE_LIMIT_SMS_PER_PHONE: str = setting("1/minute,5/hour,10/day", "SMS codes per phone", group="limits")
    RATE_LIMIT_SMS_PER_IP: str = setting("20/hour", "SMS codes per address", group="limits")
    RATE_LIMIT_SMS_PER_DEVICE: str = setting("5/hour", "SMS codes per device", group="limits")
    RATE_LIMIT_SMS_VERIFY_PER_PHONE: str = setting("10/hour", "SMS code checks per phone", group="limits")
    RATE_LIMIT_TICKET_MESSAGES: str = setting("6/minute,60/day", "Support messages (and new tickets) per user",
                                              group="limits")
    RATE_LIMIT_UPLOADS_PER_USER: str = setting("20/minute,300/day", "Portrait uploads per user", group="limits")
    RATE_LIMIT_DELETION_REQUESTS: str = setting("5/day", "Deletion requests per user", group="limits")
    UPLOAD_MAX_UNCLAIMED_PER_USER: Positive = setting(20, "Live uploads per user that no job has claimed yet",
                                                      group="limits")
    GENERATION_MAX_QUEUED_PER_USER: Positive = setting(10, "Generation jobs per user not yet started",
                                                       group="limits")
    STAFF_COOKIE_NAME: str = setting("mh_staff", "Staff console cookie", group="staff")
    STAFF_COOKIE_SECURE: bool = setting(True, "Secure flag of the staff cookie (`make run` turns it off)",
                                        group="staff")
    STAFF_SESSION_IDLE_TIMEOUT_S: Positive = setting(30 * 60, "Idle staff sessions end after this", group="staff")
    STAFF_SESSION_MAX_AGE_S: Positive = setting(12 * 3600, "Staff sessions end after this", group="staff")
    STAFF_MAX_SESSIONS: Positive = setting(2, "Sessions per staff account (the oldest is revoked)", group="staff")
    STAFF_LOCKOUT_ATTEMPTS: Positive = setting(5, "Wrong passwords before a lock-out", group="staff")
    STAFF_LOCKOUT_S: Positive = setting(15 * 60, "Length of a lock-out", group="staff")
    STAFF_TOTP_ISSUER: str = setting("Miaohua Staff", "Issuer shown in authenticator apps", group="staff")
    STAFF_PASSWORD_HASH_PROFILE: Literal["rfc9106_low_memory", "test"] | None = setting(
        None, "argon2id parameters; production accepts only rfc9106_low_memory", group="staff",
        derived="rfc9106_low_memory; test in the test profile")
    STAFF_ACCESS_REVIEW_PERIOD_DAYS: Positive = setting(
        90, "§7 access review: an alert fires when the last review is older than this", group="staff")
    TICKET_MAX_OPEN_PER_USER: Positive = setting(5, "Open support tickets per user", group="staff")
    TICKET_AUTO_CLOSE_DAYS: Positive = setting(14, "Resolved tickets left alone close after this", group="staff")
    METRICS_TOKEN: str | None = setting(None, "Bearer token of /metrics (unset: 404)", group="monitoring",
                                        secret=True, required=True,
                                        derived="dev-metrics-token with the sandbox on")
    ALERT_DELETION_BACKLOG_AGE_S: Positive = setting(300, "Alert: oldest pending deletion", group="monitoring")
    ALERT_QUEUE_AGE_GENERATION_S: Positive = setting(15 * 60, "Alert: oldest waiting generation job",
                                                     group="monitoring")
    ALERT_QUEUE_AGE_DEFAULT_S: Positive = setting(60, "Alert: oldest waiting default job", group="monitoring")
    ALERT_QUEUE_AGE_MAINTENANCE_S: Positive = setting(10 * 60, "Alert: oldest waiting maintenance job",
                                                      group="monitoring")

    # --- tests ---------------------------------------------------------------------------------------------
    TEST_DATABASE_URL: str | None = setting(None, "The test profile's database (unset: a temporary SQLite file)",
                                            group="tests")
    TEST_REDIS_URL: str | None = setting(None, "The test profile's Redis, FLUSHED by the tests (unset: fakeredis)",
                                         group="tests")

    @field_validator("*", mode="after")
    @classmethod
    def _rate_limits_parse(cls, value: Any, info) -> Any:
        if info.field_name and RATE_LIMIT_SETTING.match(info.field_name):
            from app.core.ratelimit import parse_limits

            try:
                parse_limits(value)
            except ValueError as exc:
                raise ValueError(f"not a rate limit like '10/minute,100/day': {exc}") from exc
        return value


class SettingsError(ValueError):
    """Every problem of an environment at once, one per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def read_settings(env_file: str | None = None) -> Settings:
    """The environment (and ``env_file``, whose values the environment overrides) as typed settings;
    SettingsError lists every malformed value at once."""
    try:
        return Settings(_env_file=env_file) if env_file else Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"]) or "?"
            problems.append(f"{name}: {error['msg']} (got {error.get('input')!r})")
        raise SettingsError(problems) from None


def declared() -> list[tuple[str, Any]]:
    """(name, field) of every setting, in declaration order."""
    return list(Settings.model_fields.items())


def meta(field) -> dict[str, Any]:
    return dict(field.json_schema_extra or {})
