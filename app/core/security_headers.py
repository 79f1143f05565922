"""Security headers on every response, in one ``after_request`` hook (policy §7, "security measures").

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

HSTS_VALUE = "max-age=31536000; includeSubDomains"
FRAME_CSP = "frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
_ALWAYS = (("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"), ("Referrer-Policy", "no-referrer"))


def add_security_headers(response: Response) -> Response:
    headers = response.headers
    for name, value in _ALWAYS:
        headers.setdefault(name, value)
    if response.mimetype == "text/html" and "Content-Security-Policy" not in headers:
        headers["Content-Security-Policy"] = FRAME_CSP
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", HSTS_VALUE)
    if "Authorization" in request.headers and "Cache-Control" not in headers:
        headers["Cache-Control"] = "no-store"
    return response


def register_security_headers(app: Flask) -> None:
    app.after_request(add_security_headers)
