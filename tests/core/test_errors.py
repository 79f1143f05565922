"""Every error status the API can answer is JSON in the one documented shape."""

import pytest
from flask import Blueprint
from pydantic import BaseModel, Field

from app.core import errors
from app.core.api import endpoint
from tests.conftest import make_app


class ThingIn(BaseModel):
    name: str = Field(min_length=1, max_length=20)
    count: int = Field(ge=0)


@pytest.fixture(scope="module")
def error_app():
    """An app with routes that fail in each documented way (registered before the first request)."""
    bp = Blueprint("failing", __name__, url_prefix="/api/v1/test")

    @bp.post("/things")
    @endpoint("Create a test thing", body=ThingIn)
    def create_thing(body: ThingIn):
        return body

    @bp.get("/forbidden")
    def forbidden():
        raise errors.Forbidden()

    @bp.get("/protected")
    def protected():
        raise errors.AuthenticationRequired()

    @bp.get("/conflict")
    def conflict():
        raise errors.Conflict("Already paid.", code="order_already_paid")

    @bp.get("/limited")
    def limited():
        raise errors.RateLimited(retry_after=42)

    @bp.get("/boom")
    def boom():
        raise RuntimeError("unexpected")

    @bp.get("/queue")
    def queue_down():
        raise errors.QueueUnavailable()

    app = make_app(MAX_CONTENT_LENGTH=1024, MAX_JSON_BYTES=512)
    app.register_blueprint(bp)
    return app


def assert_error_shape(response, status, code):
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    assert body["error"]["request_id"] == response.headers["X-Request-ID"]
    return body["error"]


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "code"), [
    ("post", "/api/v1/test/things", {"data": "{not json", "content_type": "application/json"}, 400,
     "malformed_json"),
    ("get", "/api/v1/test/protected", {}, 401, "authentication_required"),
    ("get", "/api/v1/test/forbidden", {}, 403, "forbidden"),
    ("get", "/api/v1/no/such/route", {}, 404, "not_found"),
    ("delete", "/api/v1/test/things", {}, 405, "method_not_allowed"),
    ("get", "/api/v1/test/conflict", {}, 409, "order_already_paid"),
    ("post", "/api/v1/test/things", {"data": "x" * 2048, "content_type": "application/json"}, 413,
     "payload_too_large"),
    ("post", "/api/v1/test/things", {"data": "name=a", "content_type": "application/x-www-form-urlencoded"}, 415,
     "unsupported_media_type"),
    ("post", "/api/v1/test/things", {"json": {"name": "", "count": -1}}, 422, "validation_error"),
    ("get", "/api/v1/test/limited", {}, 429, "rate_limited"),
    ("get", "/api/v1/test/boom", {}, 500, "internal_error"),
    ("get", "/api/v1/test/queue", {}, 503, "queue_unavailable"),
])
def test_each_error_status_is_json_in_the_documented_shape(error_app, method, path, kwargs, status, code):
    response = getattr(error_app.test_client(), method)(path, **kwargs)
    assert_error_shape(response, status, code)


def test_validation_errors_name_each_field(error_app):
    response = error_app.test_client().post("/api/v1/test/things", json={"name": "", "count": "many"})
    error = assert_error_shape(response, 422, "validation_error")
    fields = {item["field"]: item for item in error["details"]["fields"]}
    assert set(fields) == {"name", "count"}
    assert fields["name"]["location"] == "body"
    assert fields["count"]["type"] == "int_parsing"


def test_missing_body_fields_and_wrong_top_level_type(error_app):
    client = error_app.test_client()
    error = assert_error_shape(client.post("/api/v1/test/things", json={}), 422, "validation_error")
    assert {f["field"] for f in error["details"]["fields"]} == {"name", "count"}
    assert_error_shape(client.post("/api/v1/test/things", json=[1, 2]), 422, "validation_error")


def test_json_body_over_the_json_limit_is_413_before_parsing(error_app):
    body = '{"name": "' + "a" * 600 + '", "count": 1}'
    response = error_app.test_client().post("/api/v1/test/things", data=body, content_type="application/json")
    error = assert_error_shape(response, 413, "payload_too_large")
    assert error["details"]["max_bytes"] == 512


def test_deeply_nested_json_is_a_clean_400(error_app):
    app = make_app(MAX_JSON_BYTES=10**6, MAX_CONTENT_LENGTH=10**7)
    app.register_blueprint(error_app.blueprints["failing"])
    body = "[" * 100_000 + "]" * 100_000
    response = app.test_client().post("/api/v1/test/things", data=body, content_type="application/json")
    assert_error_shape(response, 400, "malformed_json")


def test_405_lists_the_allowed_methods(error_app):
    response = error_app.test_client().put("/api/v1/test/things")
    error = assert_error_shape(response, 405, "method_not_allowed")
    assert error["details"]["allowed_methods"] == ["OPTIONS", "POST"]


def test_429_says_when_to_retry(error_app):
    response = error_app.test_client().get("/api/v1/test/limited")
    error = assert_error_shape(response, 429, "rate_limited")
    assert error["details"]["retry_after"] == 42
    assert response.headers["Retry-After"] == "42"


def test_500_hides_the_exception(error_app):
    response = error_app.test_client().get("/api/v1/test/boom")
    assert "unexpected" not in response.get_data(as_text=True)


def test_valid_body_is_wrapped_in_the_success_envelope(error_app):
    response = error_app.test_client().post("/api/v1/test/things", json={"name": "a", "count": 2})
    assert response.status_code == 200
    assert response.get_json() == {"data": {"name": "a", "count": 2}}


def test_request_id_is_echoed_when_sane_and_generated_otherwise(error_app):
    client = error_app.test_client()
    assert client.get("/healthz", headers={"X-Request-ID": "abc12345-from-proxy"}).headers[
        "X-Request-ID"] == "abc12345-from-proxy"
    generated = client.get("/healthz", headers={"X-Request-ID": "bad id; with <script>"}).headers["X-Request-ID"]
    assert len(generated) == 32 and generated.isalnum()
