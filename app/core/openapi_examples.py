"""Examples for the OpenAPI document: one per request body, parameter and success response.

Written from the schemas themselves, so they cannot drift: a field's own ``examples`` (pydantic
``Field(examples=[…])``) or ``default`` wins, else a plain value of its type (an enum's first value,
a fixed date for ``date-time``, one item per array). ``tests/core/test_openapi.py`` validates every
example against its schema, so a field whose pattern a plain value would not match must declare one.
"""

from __future__ import annotations

from typing import Any

_FORMATS = {
    "date-time": "2026-12-01T08:30:00Z",
    "date": "2026-12-01",
    "uuid": "5b0f4c1e-8d2a-4f3b-9c61-2e7a9d4b8f10",
    "uri": "https://miaohua.example.com/api/v1/example",
    "email": "user@example.com",
    "binary": "(binary)",
}


class _Synthesiser:
    def __init__(self, schemas: dict[str, Any]) -> None:
        self.schemas = schemas

    def example(self, schema: dict[str, Any], depth: int = 0) -> Any:
        if depth > 12:
            return None
        if "$ref" in schema:
            return self.example(self.schemas[schema["$ref"].rsplit("/", 1)[1]], depth + 1)
        for key in ("examples",):
            if schema.get(key):
                return schema[key][0]
        if "example" in schema:
            return schema["example"]
        if "const" in schema:
            return schema["const"]
        if "default" in schema and schema["default"] is not None:
            return schema["default"]
        if schema.get("enum"):
            return schema["enum"][0]
        for key in ("anyOf", "oneOf"):
            if key in schema:
                options = [o for o in schema[key] if o.get("type") != "null"] or schema[key]
                return self.example(options[0], depth + 1)
        if "allOf" in schema:
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                value = self.example(part, depth + 1)
                if isinstance(value, dict):
                    merged.update(value)
            return merged
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind == "object" or "properties" in schema:
            return {name: self.example(prop, depth + 1) for name, prop in schema.get("properties", {}).items()}
        if kind == "array":
            items = self.example(schema.get("items", {}), depth + 1)
            return [items] * max(1, schema.get("minItems", 1))
        if kind == "integer":
            return max(1, schema.get("minimum", 1), schema.get("exclusiveMinimum", 0) + 1)
        if kind == "number":
            return float(schema.get("minimum", 1))
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        if kind == "string" or kind is None:
            if schema.get("contentMediaType"):
                return "(binary)"
            value = _FORMATS.get(schema.get("format", ""), "example")
            length = schema.get("minLength", 0)
            return value + "x" * max(0, length - len(value))
        return None


def add_examples(document: dict[str, Any]) -> None:
    """Give every parameter, request body and success response of the document an example."""
    synth = _Synthesiser(document["components"]["schemas"])
    for operations in document["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                parameter.setdefault("example", synth.example(parameter["schema"]))
            for media in operation.get("requestBody", {}).get("content", {}).values():
                media.setdefault("example", synth.example(media["schema"]))
            for status, response in operation["responses"].items():
                if not status.startswith("2"):
                    continue
                for media_type, media in response.get("content", {}).items():
                    if media_type == "application/json":
                        media.setdefault("example", synth.example(media["schema"]))
                    else:
                        media.setdefault("example", "success" if media_type == "text/plain" else "(binary)")
