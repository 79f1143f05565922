"""One error shape for every failure: ``{"error": {"code", "message", "details", "request_id"}}``.

The mini-program switches on ``code``, so codes are stable identifiers; ``message`` is for humans
and may change. Messages are written in English and shown in the request's language (zh_CN unless the client
asks for English): the handlers below translate them through the message catalog (``app.core.i18n``).
Every status the API can answer (400 … 503) is JSON, never an HTML error page.
"""

from __future__ import annotations

import logging
from typing import Any

import redis.exceptions
from flask import Flask, g, jsonify
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

from app.core.i18n import N_, translate

log = logging.getLogger(__name__)

# Default code for each HTTP status when the error came from Flask/Werkzeug itself.
STATUS_CODES: dict[int, str] = {
    400: "bad_request",
    401: "authentication_required",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
    507: "storage_full",
}
# What the user reads for each of those statuses when Werkzeug raised it with its stock description.
STATUS_MESSAGES: dict[int, str] = {
    400: N_("The request could not be processed."),
    401: N_("Log in to continue."),
    403: N_("You are not allowed to do this."),
    404: N_("Not found."),
    405: N_("This method is not allowed here."),
    409: N_("The request conflicts with the current state."),
    413: N_("The request body is too large."),
    415: N_("Unsupported content type."),
    422: N_("Some fields are invalid."),
    429: N_("Too many requests; try again later."),
    500: N_("Something went wrong on our side."),
    503: N_("The service is temporarily unavailable."),
    507: N_("File storage is full; nothing was saved, try again later."),
}


class ApiError(Exception):
    """An error the client should see. Subclasses fix the status; ``code`` may be refined per raise."""

    status = 400
    code = "bad_request"
    message = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        self.code = code or self.code
        self.details = details or {}
        self.headers = headers or {}


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class AuthenticationRequired(ApiError):
    status, code, message = 401, "authentication_required", "Log in to continue."


class Forbidden(ApiError):
    status, code, message = 403, "forbidden", "You are not allowed to do this."


class NotFound(ApiError):
    status, code, message = 404, "not_found", "Not found."


class Conflict(ApiError):
    status, code, message = 409, "conflict", "The request conflicts with the current state."


class PayloadTooLarge(ApiError):
    status, code, message = 413, "payload_too_large", "The request body is too large."


class UnsupportedMediaType(ApiError):
    status, code, message = 415, "unsupported_media_type", "Unsupported content type."


class ValidationFailed(ApiError):
    status, code, message = 422, "validation_error", "Some fields are invalid."


class RateLimited(ApiError):
    status, code, message = 429, "rate_limited", "Too many requests; try again later."

    def __init__(self, retry_after: int, message: str | None = None, **kwargs: Any) -> None:
        details = {"retry_after": retry_after, **kwargs.pop("details", {})}
        super().__init__(message, details=details, headers={"Retry-After": str(retry_after)}, **kwargs)


class ServiceUnavailable(ApiError):
    status, code, message = 503, "service_unavailable", "The service is temporarily unavailable."


class QueueUnavailable(ServiceUnavailable):
    code, message = "queue_unavailable", "The job queue is unavailable; nothing was saved, try again shortly."


class DatabaseUnavailable(ServiceUnavailable):
    code, message = "database_unavailable", "The database is unavailable; try again shortly."


class StorageUnavailable(ServiceUnavailable):
    code, message = "storage_unavailable", "File storage is unavailable; nothing was saved, try again shortly."


class StorageFull(ApiError):
    status, code, message = 507, "storage_full", "File storage is full; nothing was saved, try again later."


def localized_details(details: dict | None) -> dict:
    """``details`` with the per-field validation messages in the request's language."""
    if not details or not isinstance(details.get("fields"), list):
        return details or {}
    fields = [{**item, "message": translate(item["message"])} if isinstance(item, dict) and "message" in item
              else item for item in details["fields"]]
    return {**details, "fields": fields}


def error_response(status: int, code: str, message: Any, details: dict | None = None,
                   headers: dict[str, str] | None = None):
    body = {
        "error": {
            "code": code,
            "message": translate(message),
            "details": localized_details(details),
            "request_id": g.get("request_id"),
        }
    }
    response = jsonify(body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def handle_api_error(error: ApiError):
        return error_response(error.status, error.code, error.message, error.details, error.headers)

    @app.errorhandler(HTTPException)
    def handle_http_exception(error: HTTPException):
        status = error.code or 500
        code = STATUS_CODES.get(status, "http_error")
        headers = {}
        details: dict[str, Any] = {}
        if status == 405 and error.valid_methods:
            details["allowed_methods"] = sorted(error.valid_methods)
            headers["Allow"] = ", ".join(sorted(error.valid_methods))
        if status == 413:
            details["max_bytes"] = app.config["MAX_CONTENT_LENGTH"]
        description = error.description
        if description == type(error).description or not description:  # Werkzeug's stock text: ours instead
            description = STATUS_MESSAGES.get(status, code)
        return error_response(status, code, description, details, headers)

    @app.errorhandler(OperationalError)
    def handle_database_down(error: DBAPIError):
        # Connection refused/lost: a 503 the client can retry, not a 500.
        log.error("database unavailable", extra={"error_class": type(error.orig).__name__})
        exc = DatabaseUnavailable()
        return error_response(exc.status, exc.code, exc.message)

    @app.errorhandler(redis.exceptions.ConnectionError)
    @app.errorhandler(redis.exceptions.TimeoutError)
    def handle_queue_down(error: Exception):
        log.error("queue unavailable", extra={"error_class": type(error).__name__})
        exc = QueueUnavailable()
        return error_response(exc.status, exc.code, exc.message)

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        log.exception("unhandled error")
        return error_response(500, "internal_error", STATUS_MESSAGES[500])
