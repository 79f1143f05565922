"""Bearer-token authentication (flask-login request loader) and the guards views declare.

``Authorization: Bearer mh_…`` resolves through an indexed lookup of the token's hash. Guards:
``login_required`` (401 ``authentication_required``), ``phone_required`` (403
``phone_binding_required``: the real-name rule, policy §2.1). A blocked account is refused on every
request with 403 ``account_blocked``, not only at login.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Flask, g, request
from flask_login import current_user

from app.accounts import sessions
from app.accounts.models import LoginSession, User, UserStatus
from app.core.errors import AuthenticationRequired, Forbidden


class AccountBlocked(Forbidden):
    code, message = "account_blocked", "This account is blocked. Contact customer service."


class PhoneBindingRequired(Forbidden):
    code, message = "phone_binding_required", "Bind a phone number first (required by the real-name rule)."


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def load_user_from_request(_request: Any) -> User | None:
    token = bearer_token()
    if token is None:
        return None
    session = sessions.resolve_token(token)
    if session is None:
        return None
    user = session.user
    if user.status == UserStatus.BLOCKED:
        g.blocked_user = True
        return None
    sessions.touch(session)
    g.login_session = session
    return user


def current_session() -> LoginSession:
    return g.login_session


def login_required(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            if g.get("blocked_user"):
                raise AccountBlocked()
            raise AuthenticationRequired(details={"hint": "send Authorization: Bearer <token>"})
        return view(*args, **kwargs)

    return wrapper


def phone_required(view: Callable) -> Callable:
    """Login and a bound phone: uploads, generation and payment go through this."""

    @login_required
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.has_phone:
            raise PhoneBindingRequired()
        return view(*args, **kwargs)

    return wrapper


def init_app(app: Flask) -> None:
    from app.extensions import login_manager

    login_manager.request_loader(load_user_from_request)
    login_manager.user_loader(lambda _user_id: None)  # no cookie sessions for the mini-program API
