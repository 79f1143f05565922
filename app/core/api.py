"""API conventions: the ``endpoint`` decorator, the success envelope and request ids.

A view declares its query and body schemas (pydantic v2 models) and its response model once::

    @bp.post("/things")
    @endpoint(body=ThingIn, response=ThingOut, status=201, summary="Create a thing")
    def create_thing(body: ThingIn) -> ThingOut: ...

The decorator validates input (415 for a non-JSON body, 400 for malformed JSON, 413 for a body
over ``MAX_JSON_BYTES``, 422 with per-field details), wraps the result as ``{"data": …}`` and
records the declaration on the view so the OpenAPI document is generated from the same schemas.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, request
from pydantic import BaseModel, ValidationError

from app.core.errors import (
    STATUS_CODES,
    ApiError,
    BadRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from app.core.field_messages import field_message

API_PREFIX = "/api/v1"
REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

# What a view (or a decorator around it) may answer besides success: a status (answered with that
# status's default code), an ``ApiError`` subclass (its status and code), or ``(status, code)`` for a
# code raised on a generic class (``BadRequest(code="file_required")``). A view may also declare
# ``errors={409: ["order_not_payable", "order_expired"], 404: ["order_not_found"]}``.
ErrorDeclaration = int | type[ApiError] | tuple[int, str]
ErrorDeclarations = Mapping[int, Iterable[str]] | Iterable[ErrorDeclaration]


def _flatten(declarations: ErrorDeclarations) -> tuple[ErrorDeclaration, ...]:
    if isinstance(declarations, Mapping):
        return tuple((status, code) for status, codes in declarations.items() for code in codes)
    return tuple(declarations)


def error_codes(declarations: Iterable[ErrorDeclaration]) -> dict[int, set[str]]:
    """``{status: {code, …}}`` from error declarations (see ``ErrorDeclaration``)."""
    codes: dict[int, set[str]] = {}
    for entry in declarations:
        if isinstance(entry, int):
            status, code = entry, STATUS_CODES.get(entry, "http_error")
        elif isinstance(entry, tuple):
            status, code = entry
        elif isinstance(entry, type) and issubclass(entry, ApiError):
            status, code = entry.status, entry.code
        else:
            raise TypeError(f"not an error declaration: {entry!r}")
        codes.setdefault(status, set()).add(code)
    return codes


def add_errors(view: Callable, *declarations: ErrorDeclaration) -> Callable:
    """Decorators that refuse requests (login, consent, rate limits) declare what they answer here.

    ``functools.wraps`` copies the attribute outwards, so the outermost view carries every layer's
    declarations and the OpenAPI document lists them with the view's own.
    """
    view.api_errors = (*getattr(view, "api_errors", ()), *declarations)  # type: ignore[attr-defined]
    return view


@dataclass(frozen=True)
class EndpointSpec:
    """What a view declares about itself; read by the OpenAPI generator.

    ``form``: a multipart/form-data body (fields described by the model; binary fields as
    ``bytes``), parsed by the view itself. ``produces``: the media type of a success that is not the
    JSON envelope (``text/plain``, ``image/jpeg``, ``application/zip``). ``idempotent``: the
    ``Idempotency-Key`` header is honoured (see ``app.core.idempotency``).
    """

    summary: str
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    auth: bool = False
    tags: tuple[str, ...] = ()
    errors: tuple[ErrorDeclaration, ...] = ()
    description: str | None = None
    extra_responses: dict[int, str] = field(default_factory=dict)  # e.g. {304: "Not modified"}: no body
    response_headers: dict[str, str] = field(default_factory=dict)  # header name → description, on success
    form: type[BaseModel] | None = None
    produces: str | None = None
    idempotent: bool = False
    operation_id: str | None = None


def endpoint(
    summary: str,
    *,
    query: type[BaseModel] | None = None,
    body: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    auth: bool = False,
    tags: tuple[str, ...] | list[str] = (),
    errors: ErrorDeclarations = (),
    description: str | None = None,
    form: type[BaseModel] | None = None,
    produces: str | None = None,
    idempotent: bool = False,
    operation_id: str | None = None,
    extra_responses: dict[int, str] | None = None,
    response_headers: dict[str, str] | None = None,
) -> Callable:
    spec = EndpointSpec(summary=summary, query=query, body=body, response=response, status=status,
                        auth=auth, tags=tuple(tags), errors=_flatten(errors), description=description,
                        form=form, produces=produces, idempotent=idempotent, operation_id=operation_id,
                        extra_responses=dict(extra_responses or {}), response_headers=dict(response_headers or {}))

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if query is not None:
                kwargs["query"] = validate_model(query, request.args.to_dict(), location="query")
            if body is not None:
                kwargs["body"] = validate_model(body, read_json_body(), location="body")

            def call() -> Response:
                result = view(*args, **kwargs)
                return result if isinstance(result, Response) else envelope(result, status)

            if idempotent:
                from app.core import idempotency

                return idempotency.run_once(call)
            return call()

        wrapper.api_spec = spec  # type: ignore[attr-defined]
        return wrapper

    return decorate


def read_json_body() -> Any:
    content_type = request.mimetype or ""
    if content_type != "application/json":
        raise UnsupportedMediaType(
            "Send the body as application/json.", details={"content_type": content_type or None}
        )
    limit = current_app.config["MAX_JSON_BYTES"]
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(details={"max_bytes": limit})
    raw = request.get_data(cache=True)
    if len(raw) > limit:
        raise PayloadTooLarge(details={"max_bytes": limit})
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest("The body is not valid JSON.", code="malformed_json") from exc
    except RecursionError as exc:
        raise BadRequest("The JSON body is nested too deeply.", code="malformed_json") from exc


def validate_model(model: type[BaseModel], data: Any, *, location: str) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = [
            {
                "field": ".".join(str(part) for part in err["loc"]) or location,
                "location": location,
                "message": field_message(err),
                "type": err["type"],
            }
            for err in exc.errors(include_url=False, include_input=False)  # ctx kept: field_message reads it
        ]
        raise ValidationFailed(details={"fields": fields}) from exc


def to_jsonable(result: Any) -> Any:
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    if isinstance(result, list):
        return [to_jsonable(item) for item in result]
    return result


def envelope(result: Any, status: int = 200) -> Response:
    """The one success shape: ``{"data": …}``; a 204 has no body."""
    if status == 204:
        return Response(status=204)
    response = jsonify({"data": to_jsonable(result)})
    response.status_code = status
    return response


def _memoized_ensure_sync(app: Flask) -> None:
    """Flask calls ``ensure_sync`` for every hook and view of every request (11 a request here), and each call
    inspects the function's code flags to see whether it is ``async``; a function's answer never changes, so
    it is kept (the functions are the app's hooks and views: a fixed, small set)."""
    ensure_sync, known = app.ensure_sync, {}

    def memoized(func: Callable) -> Callable:
        try:
            return known[func]
        except KeyError:
            result = known[func] = ensure_sync(func)
            return result
        except TypeError:  # not hashable
            return ensure_sync(func)

    app.ensure_sync = memoized  # type: ignore[method-assign]


# The headers every response gets (request id, security headers, language) are added in one after-request
# hook that reads the response's headers once: werkzeug's ``Headers`` is a list scanned on every lookup,
# and three hooks each asking it for their headers cost ~40 us a request. A filler receives the response,
# the headers it has (lower-cased name → value) and the list to append the missing ones to.
HeaderFiller = Callable[[Response, dict[str, str], list[tuple[str, str]]], None]
_FILLERS = "miaohua_header_fillers"
_REQUEST_ID_LOWER = REQUEST_ID_HEADER.lower()


def fill_response_headers(app: Flask, filler: HeaderFiller) -> None:
    """Add ``filler`` to the hook that completes every response's headers (see ``HeaderFiller``)."""
    app.extensions.setdefault(_FILLERS, []).append(filler)


def register_request_hooks(app: Flask) -> None:
    _memoized_ensure_sync(app)
    access_log = app.logger.getChild("access")
    fillers: list[HeaderFiller] = app.extensions.setdefault(_FILLERS, [])

    @app.before_request
    def assign_request_id() -> None:
        incoming = request.environ.get("HTTP_X_REQUEST_ID", "")  # REQUEST_ID_HEADER
        g.request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def complete_headers(response: Response) -> Response:
        request_id = g.get("request_id") or uuid.uuid4().hex
        headers = response.headers
        present = {name.lower(): value for name, value in headers}
        missing: list[tuple[str, str]] = []
        if _REQUEST_ID_LOWER in present:
            headers[REQUEST_ID_HEADER] = request_id
        else:
            missing.append((REQUEST_ID_HEADER, request_id))
        for fill in fillers:
            fill(response, present, missing)
        headers.extend(missing)
        if access_log.isEnabledFor(logging.INFO):  # the record's fields cost ~10 us to gather: not for nothing
            started = g.get("request_started")
            duration_ms = round((time.perf_counter() - started) * 1000, 2) if started else None
            # Path only: query strings may carry codes or tokens.
            access_log.info("request", extra={"method": request.method, "path": request.path,
                                              "status": response.status_code, "duration_ms": duration_ms})
        return response
