"""Bearer-token authentication (flask-login request loader) and the guards views declare.

``Authorization: Bearer mh_…`` resolves through ``sessions.authenticate``: an indexed lookup of the
token's hash, or this process's cache of it while the auth epochs in Redis say nothing changed (see
``app.accounts.sessions``). ``current_user`` is a real ``User`` in the request's ORM session;
``current_session()`` loads the ``LoginSession`` when a view asks for it. Guards: ``login_required``
(401 ``authentication_required``), ``phone_required`` (403 ``phone_binding_required``: the real-name
rule, policy §2.1). A blocked account is refused on every request with 403 ``account_blocked``, not
only at login.

The API has no cookie sessions: flask-login consults only the request loader, and Flask's signed
cookie session is replaced by ``BearerOnlySessionInterface`` (``COOKIE_SESSIONS=True`` keeps it).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NoReturn

from flask import Flask, Request, Response, g, request
from flask.sessions import NullSession, SessionInterface, SessionMixin
from flask_login import current_user

from app.accounts import sessions
from app.accounts.models import LoginSession, User
from app.core.api import add_errors
from app.core.errors import AuthenticationRequired, Forbidden
from app.extensions import db, login_manager


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
    snapshot = sessions.authenticate(token)
    if snapshot is None:
        return None
    if snapshot.user_blocked:
        g.blocked_user = True
        return None
    g.login_session_id = snapshot.id
    return sessions.user_of(snapshot)


def current_session() -> LoginSession:
    """The request's login session (loaded on first use: most requests never need it)."""
    session = g.get("login_session")
    if session is None:
        session = db.session.get(LoginSession, g.login_session_id)
        if session is None:  # removed since the request was authenticated (account deleted)
            raise AuthenticationRequired()
        g.login_session = session
    return session


def login_required(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user._get_current_object().is_authenticated:  # one proxy lookup
            if g.get("blocked_user"):
                raise AccountBlocked()
            raise AuthenticationRequired(details={"hint": "send Authorization: Bearer <token>"})
        return view(*args, **kwargs)

    return add_errors(wrapper, AuthenticationRequired, AccountBlocked)


def phone_required(view: Callable) -> Callable:
    """Login and a bound phone: uploads, generation and payment go through this."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user._get_current_object().has_phone:
            raise PhoneBindingRequired()
        return view(*args, **kwargs)

    return login_required(add_errors(wrapper, PhoneBindingRequired))


class _NoCookieSession(NullSession):
    """The empty, read-only stand-in for ``flask.session``: writing to it says why it is off."""

    def _fail(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise RuntimeError("Flask's cookie session is off: this API authenticates with bearer tokens "
                           "(app.accounts.auth.BearerOnlySessionInterface; COOKIE_SESSIONS=True turns it on).")

    __setitem__ = __delitem__ = clear = pop = popitem = update = setdefault = _fail  # type: ignore[assignment]


class BearerOnlySessionInterface(SessionInterface):
    """No signed-cookie session: the mini-program API authenticates with bearer tokens only.

    Flask's default interface builds an itsdangerous signer for every request, and flask-login's
    after-request hook then reads the (empty) session, which adds ``Vary: Cookie``: about 60 µs per
    request for a cookie nothing here reads or writes.
    """

    null_session_class = _NoCookieSession

    def open_session(self, app: Flask, request: Request) -> None:
        return None  # Flask then uses the null session

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        return None


def _load_bearer_user() -> None:
    """flask-login's ``_load_user`` for this bearer-token-only API: the request loader alone decides.

    ``current_user`` calls it once per request. flask-login's own version first consults the cookie
    session (session protection hashing the client address, ``_user_id``, the remember-me cookie),
    none of which this API uses: about 50 µs per authenticated request, and a stray
    ``remember_token`` cookie would even be tried instead of the bearer token.
    """
    user = load_user_from_request(request)
    g._login_user = user if user is not None else login_manager.anonymous_user()


def init_app(app: Flask) -> None:
    sessions.init_app(app)
    login_manager.request_loader(load_user_from_request)
    login_manager.user_loader(lambda _user_id: None)  # no cookie sessions for the mini-program API
    login_manager._load_user = _load_bearer_user  # type: ignore[method-assign]  # see its docstring
    if not app.config.get("COOKIE_SESSIONS", False):
        app.session_interface = BearerOnlySessionInterface()
        # flask-login's after-request hook refreshes a remember-me cookie kept in the cookie session: with
        # none, it only builds the (empty) null session on every request to find nothing to do.
        hooks = app.after_request_funcs.get(None, [])
        if login_manager._update_remember_cookie in hooks:
            hooks.remove(login_manager._update_remember_cookie)
