"""``GET /metrics``: Prometheus text, for the monitoring server only.

It needs ``Authorization: Bearer <METRICS_TOKEN>`` (compared in constant time). With no token
configured the route answers exactly like an unknown URL, so a public scanner learns nothing; production
refuses to start without one (``app/config.py``). The page holds counts and durations only — routes as
templates, never ids — but queue depths and error rates still tell an attacker too much to be public.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import Blueprint, Response, abort, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST

from app.core.errors import AuthenticationRequired

from .multiprocess import scrape

bp = Blueprint("monitoring", __name__)


class MetricsAuthenticationRequired(AuthenticationRequired):
    code, message = "metrics_authentication_required", "Send the metrics token as a Bearer token."


def check_metrics_token(header: str | None, token: str) -> bool:
    scheme, _, presented = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        return False
    # Digests first: equal lengths, so not even the token's length leaks through timing.
    return hmac.compare_digest(hashlib.sha256(presented.strip().encode()).digest(),
                               hashlib.sha256(token.encode()).digest())


@bp.get("/metrics")
def metrics() -> Response:
    token = current_app.config.get("METRICS_TOKEN")
    if not token:
        abort(404)
    if not check_metrics_token(request.headers.get("Authorization"), token):
        raise MetricsAuthenticationRequired(headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    response = Response(scrape(), mimetype=None, content_type=CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response
