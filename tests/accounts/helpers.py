"""A phone's side of the accounts API, for tests."""

from __future__ import annotations

from dataclasses import dataclass

from flask.testing import FlaskClient

from tests.conftest import Sandbox


@dataclass
class Phone:
    client: FlaskClient
    sandbox: Sandbox
    user: str = "alice"
    device_id: str | None = "device-alice-1"
    token: str | None = None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def device(self) -> dict | None:
        if self.device_id is None:
            return None
        return {"device_id": self.device_id, "model": "iPhone 15", "os": "iOS 18.1", "app_version": "1.0.0"}

    def login(self, code: str | None = None, expect: int = 200) -> dict:
        body = {"code": code or self.sandbox.login_code(self.user)}
        if self.device_id:
            body["device"] = self.device()
        response = self.client.post("/api/v1/auth/wechat", json=body)
        assert response.status_code == expect, response.get_json()
        data = response.get_json()
        if expect == 200:
            self.token = data["data"]["token"]
        return data

    def bind_phone(self, expect: int = 200) -> dict:
        response = self.client.post("/api/v1/me/phone/wechat", json={"code": self.sandbox.phone_code(self.user)},
                                    headers=self.headers())
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def accept(self, *purposes: str, version: str | None = None) -> None:
        """Agree to the current policy for ``purposes`` (``service`` always included)."""
        version = version or self.client.get("/api/v1/policy/current").get_json()["data"]["id"]
        response = self.call("POST", "/api/v1/me/consents",
                             json={"policy_version": version, "purposes": ["service", *purposes]})
        assert response.status_code == 204, response.get_json()

    def get(self, path: str, **kwargs):
        return self.client.get(path, headers=self.headers(), **kwargs)

    def call(self, method: str, path: str, **kwargs):
        return self.client.open(path, method=method, headers=self.headers(), **kwargs)


class Db:
    """Database checks from a test, each in its own app context — never the one requests run in.

    (Flask reuses an already-pushed app context for test-client requests, which would make the test
    and the request share one SQLAlchemy session and hide real transaction boundaries.)
    """

    def __init__(self, app) -> None:
        self.app = app

    def run(self, fn):
        from app.extensions import db

        with self.app.app_context():
            try:
                return fn(db.session)
            finally:
                db.session.remove()

    def count(self, model, *where) -> int:
        from sqlalchemy import func, select

        return self.run(lambda s: s.scalar(select(func.count()).select_from(model).where(*where)))

    def one(self, stmt):
        def fetch(session):
            row = session.scalar(stmt)
            if row is not None:
                session.expunge(row)
            return row

        return self.run(fetch)

    def execute(self, stmt) -> None:
        def do(session):
            session.execute(stmt)
            session.commit()

        self.run(do)
