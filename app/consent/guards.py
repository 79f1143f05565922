"""Consent guards.

- Every API endpoint outside the exempt blueprints (auth, profile and sessions, policy and consent,
  user rights, health) needs the service terms accepted at or after the latest major policy version:
  a before-request hook answers ``consent_required`` or ``policy_update_required`` otherwise. A newer
  minor version is announced with the ``X-Policy-Notice`` response header instead.
- ``@requires_consent("face_processing")`` on an endpoint adds its own purposes (and, for face
  processing, the age declaration and a guardian's consent for under-14s).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, Response, g, request
from flask_login import current_user

from app.accounts import riders
from app.accounts.auth import login_required
from app.core.api import API_PREFIX, add_errors
from app.core.openapi import add_error_rule

from . import policy, services, standing

_EXEMPT_BLUEPRINTS: set[str] = set()


def exempt(*blueprints: Blueprint) -> None:
    """Endpoints a user must reach before (or without) accepting the policy."""
    _EXEMPT_BLUEPRINTS.update(bp.name for bp in blueprints)


def is_exempt(blueprint_name: str | None) -> bool:
    return blueprint_name is None or blueprint_name in _EXEMPT_BLUEPRINTS


def _ride_standing(user_id: int) -> list[str] | None:
    """The guard's Redis read, sent with the auth epochs when ``require_current_policy`` will run."""
    if not request.path.startswith(API_PREFIX) or is_exempt(request.blueprint):
        return None
    return standing.ride(user_id)


riders.ride_along(standing.RIDER, _ride_standing)


def requires_consent(*purposes: str) -> Callable:
    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            services.check_purposes(current_user, purposes)
            return view(*args, **kwargs)

        add_errors(wrapper, services.ConsentRequired, services.AgeDeclarationRequired,
                   services.GuardianConsentRequired)
        wrapper = login_required(wrapper)
        wrapper.required_purposes = purposes  # type: ignore[attr-defined]
        return wrapper

    return decorate


def _policy_errors(endpoint_name: str, spec: Any) -> tuple:
    """For the OpenAPI document: what ``require_current_policy`` answers a logged-in caller."""
    if is_exempt(endpoint_name.rpartition(".")[0]):
        return ()
    return services.ConsentRequired, services.PolicyUpdateRequired, policy.PolicyUnavailable


def init_app(app: Flask) -> None:
    add_error_rule(app, _policy_errors)

    @app.before_request
    def require_current_policy() -> None:
        if not request.path.startswith(API_PREFIX) or is_exempt(request.blueprint):
            return
        user = current_user._get_current_object()  # one proxy lookup (flask-login's) for both uses
        if user.is_authenticated:
            # Once per request, one query; kept on ``g`` for the response hook below.
            g.service_standing = services.check_policy_accepted(user)

    @app.after_request
    def announce_minor_update(response: Response) -> Response:
        standing = g.get("service_standing")
        if standing is not None and standing.notice:
            response.headers["X-Policy-Notice"] = "minor-update"
        return response
