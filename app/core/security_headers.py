"""Security headers on every response, added by the one hook that completes every response's headers
(``app.core.api.fill_response_headers``) (policy §7, "security measures").

- ``X-Content-Type-Options: nosniff`` everywhere: a browser never guesses a type (an uploaded photo or
  an export served as something else cannot turn into script).
- ``X-Frame-Options: DENY`` everywhere and ``Content-Security-Policy: frame-ancestors 'none'`` on HTML
  (policy pages, API docs, demo, staff console): no page of ours can be framed for clickjacking. The
  CSP is deliberately only about framing, plugins and ``<base>``: the pages keep their own inline
  scripts; a view that sets its own CSP keeps it.
- ``Referrer-Policy: no-referrer``: signed media and download links carry their token in the path,
  which must not leak to another site through ``Referer``.
- ``Strict-Transport-Security`` only on HTTPS requests (RFC 6797 forbids it over plain HTTP; behind
  a TLS-terminating proxy, ``TRUSTED_PROXIES`` makes the request count as HTTPS).
- ``Cache-Control: no-store`` on answers to authenticated requests that did not choose a policy:
  personal data never sits in a shared or disk cache.

No ``Access-Control-Allow-*`` header is ever added: CORS stays closed (the mini-program is not a
browser page and needs none).
"""

from __future__ import annotations

from flask import Flask, Response, request

from app.core.api import fill_response_headers

HSTS_VALUE = "max-age=31536000; includeSubDomains"
FRAME_CSP = "frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
_ALWAYS = (("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"), ("Referrer-Policy", "no-referrer"))
# Lower-cased once: the hook runs on every response, so it reads the response's headers in one pass and
# compares names with these instead of asking ``Headers`` (a list scanned per lookup) once per header.
_ALWAYS_LOWER = tuple((name.lower(), name, value) for name, value in _ALWAYS)
_CSP, _HSTS, _CACHE_CONTROL, _CONTENT_TYPE = ("content-security-policy", "strict-transport-security",
                                              "cache-control", "content-type")


def _fill(response: Response, present: dict[str, str], missing: list[tuple[str, str]]) -> None:
    """What the response lacks (``present``: its headers, lower-cased); a header the view chose is kept."""
    missing.extend((name, value) for lowered, name, value in _ALWAYS_LOWER if lowered not in present)
    if _CSP not in present and present.get(_CONTENT_TYPE, "").split(";", 1)[0].strip().lower() == "text/html":
        missing.append(("Content-Security-Policy", FRAME_CSP))
    environ = request.environ
    if _HSTS not in present and environ.get("wsgi.url_scheme") in ("https", "wss"):  # request.is_secure
        missing.append(("Strict-Transport-Security", HSTS_VALUE))
    if _CACHE_CONTROL not in present and "HTTP_AUTHORIZATION" in environ:  # "Authorization" in request.headers
        missing.append(("Cache-Control", "no-store"))


def add_security_headers(response: Response) -> Response:
    """Add what the response lacks; a header the view chose (any case) is never replaced."""
    missing: list[tuple[str, str]] = []
    _fill(response, {name.lower(): value for name, value in response.headers}, missing)
    response.headers.extend(missing)
    return response


def register_security_headers(app: Flask) -> None:
    fill_response_headers(app, _fill)  # in the one hook that completes every response's headers (app/core/api.py)
