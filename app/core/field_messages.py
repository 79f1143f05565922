"""Validation messages per field in the request's language (pydantic itself speaks English only).

``field_message`` turns one pydantic error into the sentence the 422 answer's ``details.fields[].message``
carries: a catalog text per error ``type`` (with pydantic's context, e.g. ``min_length``), or, for a
validator's own ``ValueError``, that error's text translated (validators write it with ``N_``/``_l``).
"""

from __future__ import annotations

from typing import Any

from app.core.i18n import N_, translate

FIELD_MESSAGES: dict[str, str] = {
    "missing": N_("This field is required."),
    "extra_forbidden": N_("This field is not allowed."),
    "string_type": N_("Must be text."),
    "string_too_short": N_("Must be at least %(min_length)s characters long."),
    "string_too_long": N_("Must be at most %(max_length)s characters long."),
    "string_pattern_mismatch": N_("Is not in the expected format."),
    "string_unicode": N_("Must be valid text."),
    "int_type": N_("Must be a whole number."),
    "int_parsing": N_("Must be a whole number."),
    "int_from_float": N_("Must be a whole number."),
    "float_type": N_("Must be a number."),
    "float_parsing": N_("Must be a number."),
    "finite_number": N_("Must be a number."),
    "bool_type": N_("Must be true or false."),
    "bool_parsing": N_("Must be true or false."),
    "greater_than": N_("Must be greater than %(gt)s."),
    "greater_than_equal": N_("Must be at least %(ge)s."),
    "less_than": N_("Must be less than %(lt)s."),
    "less_than_equal": N_("Must be at most %(le)s."),
    "too_short": N_("Must have at least %(min_length)s item(s)."),
    "too_long": N_("Must have at most %(max_length)s item(s)."),
    "literal_error": N_("Must be one of: %(expected)s."),
    "enum": N_("Must be one of: %(expected)s."),
    "list_type": N_("Must be a list."),
    "set_type": N_("Must be a list."),
    "dict_type": N_("Must be an object."),
    "model_type": N_("Must be an object."),
    "model_attributes_type": N_("Must be an object."),
    "datetime_type": N_("Must be a date and time (ISO 8601)."),
    "datetime_parsing": N_("Must be a date and time (ISO 8601)."),
    "datetime_from_date_parsing": N_("Must be a date and time (ISO 8601)."),
    "timezone_aware": N_("Must include a time zone."),
    "date_type": N_("Must be a date (YYYY-MM-DD)."),
    "date_parsing": N_("Must be a date (YYYY-MM-DD)."),
    "date_from_datetime_parsing": N_("Must be a date (YYYY-MM-DD)."),
    "uuid_type": N_("Must be a UUID."),
    "uuid_parsing": N_("Must be a UUID."),
    "url_type": N_("Must be a URL."),
    "url_parsing": N_("Must be a URL."),
    "url_scheme": N_("Must be a URL."),
    "json_invalid": N_("Must be valid JSON."),
    "json_type": N_("Must be valid JSON."),
}
INVALID = N_("This value is invalid.")


class _Context(dict):
    """Formatting context that leaves an unknown placeholder visible rather than failing."""

    def __missing__(self, key: str) -> str:
        return f"%({key})s"


def field_message(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    context = error.get("ctx") or {}
    if kind in ("value_error", "assertion_error") and "error" in context:
        cause = context["error"]
        text = cause.args[0] if getattr(cause, "args", None) else str(cause)
        return translate(text)
    template = FIELD_MESSAGES.get(kind)
    if template is None:
        return translate(INVALID)
    return translate(template) % _Context({key: str(value) for key, value in context.items()})
