import pytest

from app import create_app
from app.config import ConfigError, load_config

PRODUCTION_ENV = {
    "SECRET_KEY": "s" * 40,
    "ENCRYPTION_KEY": "cHJvZHVjdGlvbi1lbmNyeXB0aW9uLWtleS0zMmJ5dGU=",
    "LOOKUP_HASH_KEY": "h" * 40,
    "WECHAT_APPID": "wx0123456789abcdef",
    "WECHAT_SECRET": "real-secret",
    "WECHAT_PUSH_TOKEN": "push-token",
    "WECHAT_PUSH_AES_KEY": "a" * 43,
    "PUBLIC_BASE_URL": "https://api.miaohua.example",
    "WECHAT_PAY_MCHID": "1900000109",
    "WECHAT_PAY_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----",
    "WECHAT_PAY_CERT_SERIAL": "ABC123",
    "WECHAT_PAY_APIV3_KEY": "k" * 32,
    "DATABASE_URL": "postgresql://app@db.internal/miaohua",
    "REDIS_URL": "redis://redis.internal:6379/0",
    "METRICS_TOKEN": "m" * 40,
    "AIGC_LABEL_KEY": "l" * 40,
}


@pytest.fixture
def production_env(monkeypatch):
    monkeypatch.setenv("MIAOHUA_ENV", "production")
    for name, value in PRODUCTION_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("WECHAT_SANDBOX", raising=False)
    return monkeypatch


def test_development_defaults_need_nothing_installed(monkeypatch):
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "MIAOHUA_ENV"):
        monkeypatch.delenv(name, raising=False)
    config = load_config()
    assert config.ENV_NAME == "development"
    assert config.SQLALCHEMY_DATABASE_URI.startswith("sqlite:///")
    assert config.REDIS_URL is None  # the embedded queue server of `make run`
    assert config.WECHAT_SANDBOX is True


def test_production_starts_with_all_secrets(production_env):
    config = load_config()
    assert config.WECHAT_SANDBOX is False
    assert config.SQLALCHEMY_DATABASE_URI.startswith("postgresql+psycopg://")


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ENCRYPTION_KEY", "LOOKUP_HASH_KEY", "WECHAT_APPID",
                                     "WECHAT_SECRET", "METRICS_TOKEN", "AIGC_LABEL_KEY"])
def test_production_refuses_to_start_without_a_secret(production_env, missing):
    production_env.delenv(missing)
    with pytest.raises(ConfigError, match=missing):
        create_app("production")


def test_production_refuses_the_wechat_sandbox(production_env):
    production_env.setenv("WECHAT_SANDBOX", "1")
    with pytest.raises(ConfigError, match="WECHAT_SANDBOX"):
        load_config()


def test_production_refuses_a_non_official_wechat_host(production_env):
    production_env.setenv("WECHAT_API_BASE_URL", "http://127.0.0.1:5100")
    with pytest.raises(ConfigError, match="official"):
        load_config()


@pytest.mark.parametrize(("name", "value", "reason"), [
    ("DATABASE_URL", "sqlite:///prod.db", "PostgreSQL"),
    ("REDIS_URL", "fakeredis://", "fakeredis"),
    ("SMS_PROVIDER", "sandbox", "SMS_PROVIDER"),
    ("ENCRYPTION_KEY", "dG9vLXNob3J0", "32 bytes"),
])
def test_production_refuses_development_backends(production_env, name, value, reason):
    production_env.setenv(name, value)
    with pytest.raises(ConfigError, match=reason):
        load_config()


def test_unknown_environment_is_refused():
    with pytest.raises(ConfigError, match="unknown MIAOHUA_ENV"):
        load_config("staging-typo")


def test_malformed_numbers_are_refused(monkeypatch):
    monkeypatch.setenv("MAX_JSON_BYTES", "lots")
    with pytest.raises(ConfigError, match="MAX_JSON_BYTES"):
        load_config("development")


@pytest.mark.parametrize(("key_id", "until"), [(None, "2027-01-01T00:00:00+08:00"), ("PUB_KEY_ID_OLD", None),
                                               ("PUB_KEY_ID_OLD", "next week"),
                                               ("PUB_KEY_ID_OLD", "2027-01-01T00:00:00")])
def test_a_previous_wechat_pay_public_key_needs_its_id_and_an_end_with_a_zone(monkeypatch, key_id, until):
    monkeypatch.setenv("WECHAT_PAY_PREVIOUS_PUBLIC_KEY", "-----BEGIN PUBLIC KEY-----\nx\n-----END PUBLIC KEY-----")
    for name, value in (("WECHAT_PAY_PREVIOUS_PUBLIC_KEY_ID", key_id), ("WECHAT_PAY_PREVIOUS_PUBLIC_KEY_UNTIL", until)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match="WECHAT_PAY_PREVIOUS_PUBLIC_KEY"):
        load_config("development")
    monkeypatch.setenv("WECHAT_PAY_PREVIOUS_PUBLIC_KEY_ID", "PUB_KEY_ID_OLD")
    monkeypatch.setenv("WECHAT_PAY_PREVIOUS_PUBLIC_KEY_UNTIL", "2027-01-01T00:00:00+08:00")
    assert load_config("development").WECHAT_PAY_PREVIOUS_PUBLIC_KEY_ID == "PUB_KEY_ID_OLD"
