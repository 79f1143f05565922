import io
import json
import logging

import pytest

from app.core.logging import configure_logging, redact_text


@pytest.fixture
def log_stream(app):
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    yield stream
    configure_logging(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])


def lines(stream):
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_every_request_logs_one_json_line_with_its_request_id(client, log_stream):
    response = client.get("/healthz?code=081abcSECRET", headers={"X-Request-ID": "req-12345678"})
    records = [r for r in lines(log_stream) if r.get("message") == "request"]
    assert len(records) == 1
    record = records[0]
    assert record["request_id"] == "req-12345678" == response.headers["X-Request-ID"]
    assert record["path"] == "/healthz" and record["status"] == 200
    assert "081abcSECRET" not in log_stream.getvalue()  # query strings are never logged


@pytest.mark.parametrize(("raw", "leaked"), [
    ("user phone 13812345678 bound", "13812345678"),
    ("user phone +86 13812345678 bound", "13812345678"),
    ("Authorization: Bearer abcDEF123456.token", "abcDEF123456.token"),
    ("session_key=HyVFkGl5F5OQWJZZaNzBBg== stored", "HyVFkGl5F5OQWJZZaNzBBg=="),
    ('{"access_token": "ACCESS_TOKEN_VALUE"}', "ACCESS_TOKEN_VALUE"),
])
def test_personal_data_is_redacted_from_messages(log_stream, raw, leaked):
    logging.getLogger("test").warning(raw)
    assert leaked not in log_stream.getvalue()
    assert lines(log_stream)[-1]["level"] == "WARNING"


def test_personal_data_is_redacted_from_extra_fields(log_stream):
    logging.getLogger("test").info("bound", extra={"phone": "13812345678", "note": "call 13912345678",
                                                   "session_key": "abc"})
    record = lines(log_stream)[-1]
    assert record["phone"] == "[redacted]" and record["session_key"] == "[redacted]"
    assert record["note"] == "call 139****5678"


def test_redaction_keeps_masked_shape():
    assert redact_text("13812345678") == "138****5678"
    assert redact_text("order 20261129123456789012") == "order 20261129123456789012"  # long ids untouched
