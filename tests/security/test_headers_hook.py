"""The security-headers hook on responses built by hand: a view's own choice wins in any letter case,
no header is ever sent twice, and the conditional headers follow the request and the content type."""

from __future__ import annotations

from collections import Counter

import pytest
from flask import Response

from app.core.security_headers import FRAME_CSP, HSTS_VALUE, add_security_headers


def names(response: Response) -> Counter:
    return Counter(name.lower() for name, _ in response.headers.items())


def test_headers_a_view_set_in_any_case_are_kept_and_not_doubled(app):
    own = {"x-frame-options": "SAMEORIGIN", "CACHE-CONTROL": "private, max-age=60",
           "content-security-policy": "default-src 'self'", "strict-transport-security": "max-age=60"}
    with app.test_request_context("/", base_url="https://localhost", headers={"Authorization": "Bearer t"}):
        response = add_security_headers(Response("<p>x</p>", mimetype="text/html", headers=own))
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert response.headers["Cache-Control"] == "private, max-age=60"
    assert response.headers["Content-Security-Policy"] == "default-src 'self'"
    assert response.headers["Strict-Transport-Security"] == "max-age=60"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert max(names(response).values()) == 1, dict(names(response))


@pytest.mark.parametrize("content_type", ["text/html", "TEXT/HTML; charset=utf-8", "text/html ;charset=gbk"])
def test_html_in_any_spelling_gets_the_frame_policy(app, content_type):
    with app.test_request_context("/"):
        response = add_security_headers(Response("<p>x</p>", headers={"Content-Type": content_type}))
    assert response.headers["Content-Security-Policy"] == FRAME_CSP


@pytest.mark.parametrize("content_type", ["application/json", "text/plain; charset=utf-8", "text/htmlx"])
def test_other_types_get_no_frame_policy(app, content_type):
    with app.test_request_context("/"):
        response = add_security_headers(Response("x", headers={"Content-Type": content_type}))
    assert "Content-Security-Policy" not in response.headers


def test_a_plain_anonymous_request_gets_only_the_unconditional_headers(app):
    with app.test_request_context("/"):
        response = add_security_headers(Response("{}", mimetype="application/json"))
    assert {"x-content-type-options", "x-frame-options", "referrer-policy"} <= set(names(response))
    assert "cache-control" not in names(response) and "strict-transport-security" not in names(response)
    assert max(names(response).values()) == 1


def test_https_and_a_bearer_add_hsts_and_no_store(app):
    with app.test_request_context("/", base_url="https://localhost", headers={"Authorization": "Bearer t"}):
        response = add_security_headers(Response("{}", mimetype="application/json"))
    assert response.headers["Strict-Transport-Security"] == HSTS_VALUE
    assert response.headers["Cache-Control"] == "no-store"
