"""MIAOHUA_ENV=staging: production in every respect except that WeChat may be the sandbox."""

import pytest

from app import create_app
from app.config import ConfigError, load_config
from tests.core.test_config import PRODUCTION_ENV

SANDBOX_PAY = ("WECHAT_PAY_MCHID", "WECHAT_PAY_PRIVATE_KEY", "WECHAT_PAY_CERT_SERIAL", "WECHAT_PAY_APIV3_KEY")


@pytest.fixture
def staging_env(monkeypatch):
    monkeypatch.setenv("MIAOHUA_ENV", "staging")
    for name, value in PRODUCTION_ENV.items():
        if name not in SANDBOX_PAY:
            monkeypatch.setenv(name, value)
    for name in SANDBOX_PAY:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WECHAT_SANDBOX", "1")
    monkeypatch.setenv("SMS_PROVIDER", "sandbox")
    monkeypatch.setenv("WECHAT_API_BASE_URL", "http://127.0.0.1:5100")
    monkeypatch.setenv("WECHAT_PAY_BASE_URL", "http://127.0.0.1:5100")
    return monkeypatch


def test_staging_accepts_the_sandbox_and_keeps_every_other_production_rule(staging_env):
    config = load_config()
    assert (config.ENV_NAME, config.WECHAT_SANDBOX, config.REQUIRE_HTTPS) == ("staging", True, True)
    assert config.STAFF_COOKIE_SECURE is True
    for name, value, reason in (("DATABASE_URL", "sqlite:///x.db", "PostgreSQL"),
                                ("PUBLIC_BASE_URL", "http://api.example", "https"),
                                ("STAFF_PASSWORD_HASH_PROFILE", "test", "rfc9106_low_memory")):
        with staging_env.context() as patch:
            patch.setenv(name, value)
            with pytest.raises(ConfigError, match=reason):
                load_config()
    staging_env.delenv("SECRET_KEY")
    with pytest.raises(ConfigError, match="staging refuses to start without: SECRET_KEY"):
        load_config()


def test_the_same_environment_is_refused_as_production(staging_env):
    staging_env.setenv("MIAOHUA_ENV", "production")
    with pytest.raises(ConfigError):
        load_config()
    staging_env.delenv("WECHAT_SANDBOX")
    staging_env.delenv("SMS_PROVIDER")
    staging_env.delenv("WECHAT_API_BASE_URL")
    staging_env.delenv("WECHAT_PAY_BASE_URL")
    with pytest.raises(ConfigError, match="WECHAT_PAY_MCHID"):  # no sandbox merchant stands in
        load_config()


def test_staging_says_what_it_is_on_every_answer(staging_env):
    app = create_app()
    response = app.test_client().get("/healthz")
    assert response.headers["X-Miaohua-Environment"] == "staging"
    assert "Strict-Transport-Security" not in response.headers  # plain http here: HSTS only on https answers
    secure = app.test_client().get("/healthz", base_url="https://localhost")
    assert secure.headers["X-Miaohua-Environment"] == "staging"


def test_production_and_development_carry_no_staging_mark(monkeypatch):
    monkeypatch.delenv("MIAOHUA_ENV", raising=False)
    app = create_app({"ENV": "testing"})
    assert "X-Miaohua-Environment" not in app.test_client().get("/healthz").headers


def test_payment_callbacks_over_plain_http_are_refused_in_staging(staging_env):
    response = create_app().test_client().post("/api/v1/payments/wechat/notify", data=b"{}")
    assert response.status_code == 403
    assert response.get_json() == {"code": "FAIL", "message": "https only"}
