"""Staff-side test helpers, shared with the tests of other staff packages (support, admin, monitoring).

``create_staff(app, "sam", ["support"])`` makes an account directly in the database;
``StaffClient.login(app, "sam")`` logs in through the real API over ``https://localhost`` (so the
``Secure`` cookie is sent, as a browser would) and sends the CSRF token on unsafe requests.
``StaffClient.login("http://127.0.0.1:5000", …)`` does the same against a live server with
``requests`` (that server needs ``STAFF_COOKIE_SECURE=False`` when it is plain http).
"""

from __future__ import annotations

from typing import Any

import requests
from flask import Flask

DEFAULT_PASSWORD = "correct horse battery staple 1"
HTTPS_BASE = "https://localhost"


def create_staff(app: Flask, username: str, roles: list[str], password: str = DEFAULT_PASSWORD,
                 *, totp_secret: str | None = None) -> None:
    """A staff account (committed, in its own app context); ``totp_secret`` enrols a second factor."""
    from app.core.crypto import seal_text
    from app.core.db import utcnow
    from app.extensions import db
    from app.staff import manage, services

    with app.app_context():
        try:
            staff = manage.create_staff(username, roles, password)
            if totp_secret:
                staff.totp_secret_ciphertext = seal_text(totp_secret, services.TOTP_PURPOSE)
                staff.totp_enabled_at = utcnow()
            db.session.commit()
        finally:
            db.session.remove()


class StaffClient:
    """A logged-in staff browser: the cookie jar holds the session, ``csrf`` goes on unsafe requests."""

    def __init__(self, target: Flask | str) -> None:
        if isinstance(target, str):
            self.base_url = target.rstrip("/")
            self.http: requests.Session | None = requests.Session()
            self.client = None
        else:
            self.base_url = HTTPS_BASE
            self.http = None
            self.client = target.test_client()
        self.csrf: str | None = None
        self.session_data: dict[str, Any] | None = None

    @classmethod
    def login(cls, target: Flask | str, username: str, password: str = DEFAULT_PASSWORD,
              totp: str | None = None) -> StaffClient:
        staff_client = cls(target)
        response = staff_client.try_login(username, password, totp)
        body = json_of(response)
        assert response.status_code == 200, body
        return staff_client

    def try_login(self, username: str, password: str = DEFAULT_PASSWORD, totp: str | None = None):
        """POST /admin/api/session; on success remembers the CSRF token. Returns the response."""
        payload: dict[str, Any] = {"username": username, "password": password}
        if totp is not None:
            payload["totp"] = totp
        response = self.request("POST", "/admin/api/session", json=payload)
        if response.status_code == 200:
            self.session_data = json_of(response)["data"]
            self.csrf = self.session_data["csrf_token"]
        return response

    def request(self, method: str, path: str, *, headers: dict[str, str] | None = None, csrf: bool = True,
                **kwargs: Any):
        headers = dict(headers or {})
        if csrf and self.csrf and method.upper() not in {"GET", "HEAD", "OPTIONS"}:
            headers.setdefault("X-CSRF-Token", self.csrf)
        if self.http is not None:
            return self.http.request(method, self.base_url + path, headers=headers, timeout=10, **kwargs)
        return self.client.open(path, method=method, headers=headers, base_url=self.base_url, **kwargs)

    def get(self, path: str, **kwargs: Any):
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any):
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any):
        return self.request("PATCH", path, **kwargs)

    def put(self, path: str, **kwargs: Any):
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any):
        return self.request("DELETE", path, **kwargs)

    def logout(self):
        return self.delete("/admin/api/session")


def json_of(response) -> Any:
    """The JSON body of a Flask test response or a requests response."""
    if hasattr(response, "get_json"):
        return response.get_json(silent=True)
    try:
        return response.json()
    except ValueError:
        return None
