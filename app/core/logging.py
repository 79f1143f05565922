"""Structured (JSON) logging with a request id or job id on every line, and no personal data.

Personal data must not reach logs (policy §7): the ``RedactPersonalData`` filter masks phone numbers,
bearer tokens and secret-looking fields in every message and extra field as a last line of defence;
code should still never log such values in the first place.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

from flask import g, has_request_context
from pythonjsonlogger.json import JsonFormatter

# Mainland mobile numbers (optionally with +86 / 86 prefix).
PHONE_RE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?(1[3-9]\d)\d{4}(\d{4})(?!\d)")
BEARER_RE = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
SECRET_FIELD_RE = re.compile(
    r"(?i)((?:session_key|access_token|token|js_code|secret|password|phone)[\"']?\s*[:=]\s*[\"']?)"
    r"[^\s\"'&,}]+"
)
SECRET_EXTRA_KEYS = {"session_key", "access_token", "token", "js_code", "code", "secret", "password",
                     "phone", "phone_number", "authorization"}
_STANDARD_RECORD_KEYS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def redact_text(text: str) -> str:
    text = PHONE_RE.sub(r"\1****\2", text)
    text = BEARER_RE.sub(r"\1[redacted]", text)
    return SECRET_FIELD_RE.sub(r"\1[redacted]", text)


class RedactPersonalData(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        for key, value in list(record.__dict__.items()):
            if key in _STANDARD_RECORD_KEYS:
                continue
            if key.lower() in SECRET_EXTRA_KEYS:
                setattr(record, key, "[redacted]")
            elif isinstance(value, str):
                setattr(record, key, redact_text(value))
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True


class ContextIds(logging.Filter):
    """Stamps the current request id, or the current RQ job id, on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context():
            record.request_id = g.get("request_id")
        else:
            from rq import get_current_job

            job = get_current_job()
            if job is not None:
                record.job_id = job.id
        return True


class RedactingJsonFormatter(JsonFormatter):
    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        return redact_text(super().formatException(ei))


def configure_logging(level: str = "INFO", fmt: str = "json", stream: Any = None) -> None:
    """Install one stderr handler on the root logger; safe to call again (it replaces ours)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_miaohua", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._miaohua = True  # type: ignore[attr-defined]
    if fmt == "json":
        handler.setFormatter(RedactingJsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "asctime": "time", "name": "logger"},
        ))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(ContextIds())
    handler.addFilter(RedactPersonalData())
    root.addHandler(handler)
    root.setLevel(level)
    # Werkzeug's access log repeats query strings (which can carry codes); ours logs paths only.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
