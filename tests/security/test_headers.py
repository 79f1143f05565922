"""Security headers (app/core/security_headers.py), closed CORS, and settings that must hold in production."""

from __future__ import annotations

import pytest

from app import create_app
from app.core.security_headers import FRAME_CSP, HSTS_VALUE
from tests.accounts.helpers import Phone
from tests.conftest import make_app
from tests.core.test_config import PRODUCTION_ENV

FOREIGN_ORIGIN = "https://evil.example"


@pytest.fixture
def production(monkeypatch):
    for name in ("WECHAT_SANDBOX", "SMS_PROVIDER", "WECHAT_API_BASE_URL", "WECHAT_PAY_BASE_URL", "STAFF_COOKIE_SECURE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in PRODUCTION_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("FLASK_DEBUG", "1")  # a stray debug switch in the environment must not win
    return create_app("production")


def cors_headers(response) -> list[str]:
    return [name for name, _ in response.headers.items() if name.lower().startswith("access-control-")]


def assert_base_headers(response) -> None:
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert cors_headers(response) == []


@pytest.mark.parametrize("path", ["/healthz", "/api/v1/policy/current", "/api/v1/styles", "/api/v1/no-such-route",
                                  "/api/v1/me"])
def test_json_answers_carry_the_headers_errors_included(client, path):
    response = client.get(path)
    assert response.is_json
    assert_base_headers(response)
    assert "Strict-Transport-Security" not in response.headers  # never over plain HTTP (RFC 6797)


@pytest.mark.parametrize("path", ["/privacy", "/privacy/versions", "/api/v1/docs", "/demo/", "/admin/"])
def test_html_pages_cannot_be_framed(client, path):
    response = client.get(path)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert_base_headers(response)
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_hsts_on_https_directly_and_behind_a_trusted_proxy(client):
    assert client.get("/healthz", base_url="https://localhost").headers["Strict-Transport-Security"] == HSTS_VALUE
    behind_proxy = make_app(TRUSTED_PROXIES=1).test_client()
    forwarded = behind_proxy.get("/healthz", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "1.2.3.4"})
    assert forwarded.headers["Strict-Transport-Security"] == HSTS_VALUE
    assert "Strict-Transport-Security" not in behind_proxy.get("/healthz").headers


def test_answers_to_authenticated_requests_are_not_cached(client, wechat_sandbox):
    phone = Phone(client, wechat_sandbox)
    login = client.post("/api/v1/auth/wechat", json={"code": wechat_sandbox.login_code("alice")})
    assert "Set-Cookie" not in login.headers  # bearer tokens only: the API sets no cookie
    phone.token = login.get_json()["data"]["token"]
    assert phone.get("/api/v1/me").headers["Cache-Control"] == "no-store"
    assert phone.get("/api/v1/no-such-thing").headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(("method", "path"), [("OPTIONS", "/api/v1/me"), ("OPTIONS", "/api/v1/auth/wechat"),
                                              ("GET", "/api/v1/policy/current"), ("POST", "/api/v1/auth/wechat")])
def test_cors_is_closed_to_foreign_origins(client, method, path):
    headers = {"Origin": FOREIGN_ORIGIN, "Access-Control-Request-Method": "POST",
               "Access-Control-Request-Headers": "authorization, content-type"}
    response = client.open(path, method=method, headers=headers, json={} if method == "POST" else None)
    assert cors_headers(response) == [], dict(response.headers)


def test_a_view_that_sets_its_own_policy_keeps_it(app):
    from flask import Response

    from app.core.security_headers import add_security_headers

    with app.test_request_context("/"):
        own = Response("<p>x</p>", mimetype="text/html", headers={"Content-Security-Policy": "default-src 'self'"})
        assert add_security_headers(own).headers["Content-Security-Policy"] == "default-src 'self'"
        plain = add_security_headers(Response("<p>x</p>", mimetype="text/html"))
        assert plain.headers["Content-Security-Policy"] == FRAME_CSP


def test_production_never_debugs_and_hides_internals(production):
    assert production.debug is False and production.testing is False
    assert production.config["PROPAGATE_EXCEPTIONS"] in (None, False)
    assert production.config["STAFF_COOKIE_SECURE"] is True
    assert "accounts_dev.sandbox_sms_outbox" not in {rule.endpoint for rule in production.url_map.iter_rules()}

    @production.get("/boom")
    def boom():
        raise RuntimeError("secret internals: /srv/app/config.py line 12")

    response = production.test_client().get("/boom", base_url="https://api.miaohua.example")
    assert response.status_code == 500 and response.get_json()["error"]["code"] == "internal_error"
    assert "secret internals" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    assert response.headers["Strict-Transport-Security"] == HSTS_VALUE
    assert_base_headers(response)


def test_staff_session_cookie_is_secure_http_only_and_strict(production):
    from flask import Response

    from app.staff.auth import set_session_cookie

    with production.test_request_context("/admin/api/session", base_url="https://api.miaohua.example"):
        response = Response()
        set_session_cookie(response, "token-value")
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
