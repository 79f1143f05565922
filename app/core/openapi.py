"""OpenAPI 3.1 document generated from the routes and the schemas their views declare.

Nothing is written by hand: the document walks ``app.url_map`` and reads each view's
``EndpointSpec``, so it cannot drift from the code. Served at ``/api/v1/openapi.json`` with a
browsable Swagger UI at ``/api/v1/docs`` (assets shipped by the ``swagger-ui-bundle`` package, so
the page works offline).
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, send_from_directory
from pydantic import BaseModel
from swagger_ui_bundle import swagger_ui_path

from app.core.api import API_PREFIX, EndpointSpec
from app.core.errors import STATUS_CODES

bp = Blueprint("openapi", __name__)

_CONVERTER = re.compile(r"<(?:(?P<conv>[a-z]+)(?:\((?P<args>[^)]*)\))?:)?(?P<name>\w+)>")
_PARAM_TYPES = {"int": {"type": "integer"}, "uuid": {"type": "string", "format": "uuid"},
                "float": {"type": "number"}}
_DOCUMENTED_PREFIXES = (API_PREFIX, "/healthz", "/readyz")

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "description": "Stable machine-readable code."},
                "message": {"type": "string", "description": "Human-readable; may change."},
                "details": {"type": "object"},
                "request_id": {"type": ["string", "null"]},
            },
        }
    },
}

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
        self.schemas: dict[str, Any] = {"Error": ERROR_SCHEMA, "WeChatPayAnswer": WECHAT_PAY_ANSWER_SCHEMA}

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


def _error_responses(spec: EndpointSpec, endpoint_name: str, has_path_params: bool) -> dict[str, Any]:
    statuses = set(spec.errors) | {500}
    if spec.body is not None:
        statuses |= {400, 413, 415, 422}
    if spec.query is not None:
        statuses.add(422)
    if spec.auth:
        statuses.add(401)
    if has_path_params:
        statuses.add(404)  # an id that is not there (or not the caller's), a value outside an enumerated path part
    protocol_schema, protocol_statuses = _PROTOCOL_ERRORS.get(endpoint_name.split(".")[0], ("", set()))
    statuses |= protocol_statuses

    def schema(status: int) -> str:
        return protocol_schema if status in protocol_statuses else "Error"

    return {
        str(status): {
            "description": STATUS_CODES.get(status, "error"),
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema(status)}"}}},
        }
        for status in sorted(statuses)
    }


def _operation(spec: EndpointSpec, endpoint_name: str, path_params: list, collector: _SchemaCollector) -> dict:
    operation: dict[str, Any] = {
        "operationId": endpoint_name.replace(".", "_"),
        "summary": spec.summary,
        "tags": list(spec.tags) or [endpoint_name.split(".")[0]],
        "parameters": list(path_params),
    }
    if spec.description:
        operation["description"] = spec.description
    if spec.query is not None:
        operation["parameters"] += collector.query_parameters(spec.query)
    if spec.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": collector.ref(spec.body)}},
        }
    if spec.status == 204:
        success: dict[str, Any] = {"description": "No content"}
    else:
        data_schema = collector.ref(spec.response) if spec.response else {}
        success = {
            "description": "Success",
            "content": {"application/json": {"schema": {
                "type": "object", "required": ["data"], "properties": {"data": data_schema},
            }}},
        }
    operation["responses"] = {str(spec.status): success, **_error_responses(spec, endpoint_name, bool(path_params))}
    if spec.auth:
        operation["security"] = [{"bearerAuth": []}]
    return operation


def build_document(app: Flask) -> dict[str, Any]:
    collector = _SchemaCollector()
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not is_documented(rule.rule):
            continue
        view = app.view_functions[rule.endpoint]
        spec: EndpointSpec | None = getattr(view, "api_spec", None)
        if spec is None:
            continue
        path, params = openapi_path(rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(spec, rule.endpoint, params, collector)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Miaohua (秒画) API",
            "version": "1",
            "description": "JSON API of the Miaohua mini-program. Success: {\"data\": …}; "
                           "errors: {\"error\": {code, message, details, request_id}}.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": collector.schemas,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
    }


@bp.get(f"{API_PREFIX}/openapi.json")
def openapi_document():
    document = current_app.extensions.get("openapi_document")
    if document is None:
        document = current_app.extensions["openapi_document"] = build_document(current_app)
    return jsonify(document)


_DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Miaohua API docs</title>
<link rel="stylesheet" href="{{ prefix }}/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="{{ prefix }}/docs/assets/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({url: "{{ prefix }}/openapi.json", dom_id: "#swagger-ui"});</script>
</body></html>"""


@bp.get(f"{API_PREFIX}/docs")
def docs_page():
    return Response(_DOCS_PAGE.replace("{{ prefix }}", API_PREFIX), mimetype="text/html")


@bp.get(f"{API_PREFIX}/docs/assets/<path:filename>")
def docs_assets(filename: str):
    return send_from_directory(swagger_ui_path, filename)
