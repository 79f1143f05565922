"""OpenAPI 3.1 document generated from the routes and the schemas their views declare.

Nothing is written by hand: the document walks ``app.url_map`` and reads each view's
``EndpointSpec`` (and the error declarations of the decorators around it), so it cannot drift from
the code. Served at ``/api/v1/openapi.json`` with a browsable Swagger UI 5 at ``/api/v1/docs``
(vendored under ``static/swagger-ui``, so the page works offline).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from flask import Blueprint, Flask, Response, current_app, jsonify, request, send_from_directory
from pydantic import BaseModel

from app.core.api import API_PREFIX, EndpointSpec, error_codes
from app.core.errors import STATUS_CODES, DatabaseUnavailable, QueueUnavailable
from app.core.openapi_examples import add_examples

bp = Blueprint("openapi", __name__)

_CONVERTER = re.compile(r"<(?:(?P<conv>[a-z]+)(?:\((?P<args>[^)]*)\))?:)?(?P<name>\w+)>")
_PARAM_TYPES = {"int": {"type": "integer"}, "uuid": {"type": "string", "format": "uuid"},
                "float": {"type": "number"}}
_DOCUMENTED_PREFIXES = (API_PREFIX, "/healthz", "/readyz")

ERROR_BODY_SCHEMA = {
    "type": "object",
    "required": ["code", "message", "details"],
    "properties": {
        "code": {"type": "string", "description": "Stable machine-readable code (each operation lists its own)."},
        "message": {"type": "string", "description": "Human-readable; may change."},
        "details": {"type": "object", "additionalProperties": True,
                    "description": "Per code: fields (validation), retry_after (429), reason (invalid_image), …"},
        "request_id": {"type": ["string", "null"]},
    },
}
ERROR_SCHEMA = {"type": "object", "required": ["error"],
                "properties": {"error": {"$ref": "#/components/schemas/ErrorBody"}}}
IDEMPOTENCY_KEY_PARAMETER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Retry-safe creation: the same key with the same request answers the first response "
                   "(Idempotent-Replayed: true) without doing the work again; with another request 422 "
                   "idempotency_key_reused. Per user, kept IDEMPOTENCY_KEY_TTL_S (default 24 h).",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    "example": "3f1c2a9e-7b1d-4c55-9e0a-5d2b8c6f4a10",
}
DESCRIPTION = (
    "JSON API of the Miaohua mini-program. Success: {\"data\": …}; errors: "
    "{\"error\": {code, message, details, request_id}} — each operation lists, per status, the codes it "
    "answers. Lists are paged with `limit` and `cursor` (pass the previous page's `next_cursor`; null: "
    "the last page). POSTs that create something honour `Idempotency-Key`. A job's `queue_position` is "
    "1-based: N means N-1 jobs are ahead of it (\"前面还有 N-1 人\"), null once it runs."
)

# WeChat Pay's callbacks answer failures in WeChat Pay's own shape (``{"code": "FAIL", "message"}``, which
# is what makes WeChat Pay retry), not in ours: blueprint → (schema name, statuses answered that way).
WECHAT_PAY_ANSWER_SCHEMA = {
    "type": "object",
    "required": ["code", "message"],
    "properties": {"code": {"type": "string", "enum": ["FAIL"]}, "message": {"type": "string"}},
}
_PROTOCOL_ERRORS = {"payments": ("WeChatPayAnswer", {400, 403})}


def is_documented(rule_path: str) -> bool:
    """API routes are documented; the document and its docs page are not part of the API itself."""
    if rule_path.startswith((f"{API_PREFIX}/docs", f"{API_PREFIX}/openapi.json")):
        return False
    return rule_path.startswith(_DOCUMENTED_PREFIXES)


def openapi_path(rule_path: str) -> tuple[str, list[dict[str, Any]]]:
    params = []
    for match in _CONVERTER.finditer(rule_path):
        if match.group("conv") == "any":  # <any(a, b):name> matches only those values: anything else is a 404
            values = [value.strip().strip("'\"") for value in match.group("args").split(",")]
            schema = {"type": "string", "enum": values}
        else:
            schema = _PARAM_TYPES.get(match.group("conv") or "", {"type": "string"})
        params.append({"name": match.group("name"), "in": "path", "required": True, "schema": schema})
    return _CONVERTER.sub(lambda m: "{" + m.group("name") + "}", rule_path), params


class _SchemaCollector:
    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {"Error": ERROR_SCHEMA, "ErrorBody": ERROR_BODY_SCHEMA,
                                        "WeChatPayAnswer": WECHAT_PAY_ANSWER_SCHEMA}

    def ref(self, model: type[BaseModel]) -> dict[str, str]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in schema.pop("$defs", {}).items():
            self.schemas[name] = definition
        self.schemas[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    def query_parameters(self, model: type[BaseModel]) -> list[dict[str, Any]]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        self.schemas.update(schema.pop("$defs", {}))
        required = set(schema.get("required", []))
        return [
            {"name": name, "in": "query", "required": name in required, "schema": prop,
             **({"description": prop["description"]} if "description" in prop else {})}
            for name, prop in schema.get("properties", {}).items()
        ]


def add_error_rule(app: Flask, rule: Callable[[str, EndpointSpec], Any]) -> None:
    """A domain whose request hooks refuse requests (not a decorator on the view) declares it here:
    ``rule(endpoint_name, spec)`` returns the error declarations it adds to that operation."""
    app.extensions.setdefault("openapi_error_rules", []).append(rule)


def operation_errors(app: Flask, endpoint_name: str, view: Callable, spec: EndpointSpec,
                     has_path_params: bool) -> dict[int, set[str]]:
    """Every ``{status: {code}}`` an operation can answer: the view's own declarations, its
    decorators' (login, consent, rate limits), the request hooks' and the conventions' below."""
    declared: list[Any] = [500, DatabaseUnavailable, QueueUnavailable, *spec.errors, *getattr(view, "api_errors", ())]
    if spec.body is not None:
        declared += [(400, "malformed_json"), 413, 415, 422]
    if spec.form is not None:
        declared += [415, 422]
    if spec.query is not None:
        declared.append(422)
    if has_path_params:
        declared.append(404)  # an id that is not there (or not the caller's), a value outside an enumerated path part
    if spec.idempotent:
        from app.core.idempotency import ERRORS

        declared += ERRORS
    for rule in app.extensions.get("openapi_error_rules", ()):
        declared += list(rule(endpoint_name, spec))
    codes = error_codes(declared)
    _, protocol_statuses = _PROTOCOL_ERRORS.get(endpoint_name.split(".")[0], ("", set()))
    for status in protocol_statuses:
        codes.setdefault(status, set())
    return codes


def _error_responses(codes: dict[int, set[str]], endpoint_name: str) -> dict[str, Any]:
    protocol_schema, protocol_statuses = _PROTOCOL_ERRORS.get(endpoint_name.split(".")[0], ("", set()))
    responses = {}
    for status in sorted(codes):
        if status in protocol_statuses:
            schema: dict[str, Any] = {"$ref": f"#/components/schemas/{protocol_schema}"}
        else:
            schema = error_schema(sorted(codes[status]))
        responses[str(status)] = {
            "description": f"{STATUS_CODES.get(status, 'error')}: " + ", ".join(sorted(codes[status])),
            "content": {"application/json": {"schema": schema}},
        }
    return responses


def error_schema(codes: list[str]) -> dict[str, Any]:
    """The error envelope with ``error.code`` narrowed to the codes this status of this operation answers."""
    return {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"allOf": [
            {"$ref": "#/components/schemas/ErrorBody"},
            {"type": "object", "required": ["code"], "properties": {"code": {"type": "string", "enum": codes}}},
        ]}},
    }


def _operation_id(spec: EndpointSpec, endpoint_name: str, method: str, methods: set[str]) -> str:
    base = spec.operation_id or endpoint_name.replace(".", "_")
    return f"{base}_{method.lower()}" if len(methods) > 1 else base


def _request_body(spec: EndpointSpec, collector: _SchemaCollector) -> dict[str, Any] | None:
    if spec.body is not None:
        return {"required": True, "content": {"application/json": {"schema": collector.ref(spec.body)}}}
    if spec.form is not None:
        return {"required": True, "content": {"multipart/form-data": {"schema": collector.ref(spec.form)}}}
    return None


IF_NONE_MATCH_PARAMETER = {
    "name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"},
    "description": "The ETag of the last answer: unchanged → 304 without a body",
}


def _success(spec: EndpointSpec, collector: _SchemaCollector) -> dict[str, Any]:
    if spec.status == 204:
        return {"description": "No content"}
    if spec.produces is not None:
        schema: dict[str, Any] = {"type": "string"}
        if not spec.produces.startswith("text/"):
            schema["contentMediaType"] = spec.produces
        return {"description": "Success", "content": {spec.produces: {"schema": schema}}}
    data_schema = collector.ref(spec.response) if spec.response else {"type": "object"}
    return {
        "description": "Success",
        "content": {"application/json": {"schema": {
            "type": "object", "required": ["data"], "properties": {"data": data_schema},
        }}},
    }


def _operation(app: Flask, spec: EndpointSpec, view: Callable, endpoint_name: str, method: str,
               methods: set[str], path_params: list, collector: _SchemaCollector) -> dict:
    operation: dict[str, Any] = {
        "operationId": _operation_id(spec, endpoint_name, method, methods),
        "summary": spec.summary,
        "tags": list(spec.tags) or [endpoint_name.split(".")[0]],
        "parameters": list(path_params),
    }
    if spec.description:
        operation["description"] = spec.description
    if spec.query is not None:
        operation["parameters"] += collector.query_parameters(spec.query)
    if spec.idempotent:
        operation["parameters"].append(IDEMPOTENCY_KEY_PARAMETER)
    request_body = _request_body(spec, collector)
    if request_body is not None and method != "GET":
        operation["requestBody"] = request_body
    codes = operation_errors(app, endpoint_name, view, spec, bool(path_params))
    success = _success(spec, collector)
    headers = {name: {"description": text, "schema": {"type": "string"}}
               for name, text in spec.response_headers.items()}
    if headers:
        success["headers"] = headers
    operation["responses"] = {str(spec.status): success, **_error_responses(codes, endpoint_name)}
    for status, text in spec.extra_responses.items():  # answers without a body (304)
        operation["responses"][str(status)] = {"description": text, **({"headers": headers} if headers else {})}
    if 304 in spec.extra_responses:
        operation["parameters"].append(IF_NONE_MATCH_PARAMETER)
    if spec.auth:
        operation["security"] = [{"bearerAuth": []}]
    return operation


def build_document(app: Flask) -> dict[str, Any]:
    collector = _SchemaCollector()
    paths: dict[str, dict[str, Any]] = {}
    all_codes: set[str] = set()
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not is_documented(rule.rule):
            continue
        view = app.view_functions[rule.endpoint]
        spec: EndpointSpec | None = getattr(view, "api_spec", None)
        if spec is None:
            continue
        path, params = openapi_path(rule.rule)
        methods = set(rule.methods or set()) - {"HEAD", "OPTIONS"}
        for method in sorted(methods):
            operation = _operation(app, spec, view, rule.endpoint, method, methods, params, collector)
            paths.setdefault(path, {})[method.lower()] = operation
            for response in operation["responses"].values():
                enum = _code_enum(response)
                all_codes.update(enum or ())
    collector.schemas["ErrorCode"] = {"type": "string", "enum": sorted(all_codes),
                                      "description": "Every error code the API answers."}
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "Miaohua (秒画) API",
            "version": "1",
            "description": DESCRIPTION,
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": collector.schemas,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
    }
    add_examples(document)
    return document


def _code_enum(response: dict[str, Any]) -> list[str] | None:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    try:
        return schema["properties"]["error"]["allOf"][1]["properties"]["code"]["enum"]
    except (KeyError, IndexError, TypeError):
        return None


def documented_codes(document: dict[str, Any], path: str, method: str, status: int) -> list[str] | None:
    """The codes the document lists for one operation's status (None: that status is not documented)."""
    response = document["paths"].get(path, {}).get(method.lower(), {}).get("responses", {}).get(str(status))
    if response is None:
        return None
    return _code_enum(response) or []


def cached_document(app: Flask) -> dict[str, Any]:
    document = app.extensions.get("openapi_document")
    if document is None:
        document = app.extensions["openapi_document"] = build_document(app)
    return document


@bp.get(f"{API_PREFIX}/openapi.json")
def openapi_document():
    return jsonify(cached_document(current_app))


@bp.cli.command("dump")
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
def dump_document(path: str) -> None:
    """Write the OpenAPI document to PATH (CI generates the TypeScript client from it)."""
    Path(path).write_text(json.dumps(build_document(current_app), ensure_ascii=False, indent=1) + "\n",
                          encoding="utf-8")
    click.echo(f"wrote {path}")


def check_documented_errors(app: Flask) -> list[str]:
    """Tests: every error the app answers must be documented for its operation and status.

    Returns the list the violations are appended to (``"POST /api/v1/jobs 402 payment_required"``);
    the test suite's conftest fails a test that leaves one, so real traffic keeps the document honest.
    """
    violations: list[str] = app.extensions.setdefault("openapi_violations", [])

    @app.after_request
    def record_undocumented_error(response: Response) -> Response:
        if response.status_code < 400 or request.url_rule is None or not is_documented(request.url_rule.rule):
            return response
        body = response.get_json(silent=True) if response.is_json else None
        code = body.get("error", {}).get("code") if isinstance(body, dict) else None
        if not isinstance(code, str):
            return response  # not our envelope (WeChat Pay's answer shape): its schema is documented
        path, _ = openapi_path(request.url_rule.rule)
        codes = documented_codes(cached_document(app), path, request.method, response.status_code)
        if codes is None or code not in codes:
            violations.append(f"{request.method} {path} {response.status_code} {code}")
        return response

    return violations


# Swagger UI 5 (reads OpenAPI 3.1), vendored under static/swagger-ui (version and licence in its README):
# served by the app, no CDN, so the page works offline.
SWAGGER_UI_DIR = Path(__file__).resolve().parents[2] / "static" / "swagger-ui"
DOCS_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'; form-action 'none'")

_DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Miaohua API docs</title>
<link rel="icon" href="{{ prefix }}/docs/assets/favicon-32x32.png">
<link rel="stylesheet" href="{{ prefix }}/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui" data-openapi-url="{{ prefix }}/openapi.json"></div>
<script src="{{ prefix }}/docs/assets/swagger-ui-bundle.js"></script>
<script src="{{ prefix }}/docs/assets/docs-init.js"></script>
</body></html>"""


@bp.get(f"{API_PREFIX}/docs")
def docs_page():
    response = Response(_DOCS_PAGE.replace("{{ prefix }}", API_PREFIX), mimetype="text/html")
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response


@bp.get(f"{API_PREFIX}/docs/assets/<path:filename>")
def docs_assets(filename: str):
    return send_from_directory(SWAGGER_UI_DIR, filename)
