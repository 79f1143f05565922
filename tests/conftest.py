"""Shared fixtures.

Backends come from the environment, as in CI:
- ``TEST_DATABASE_URL`` (e.g. ``postgresql://postgres@127.0.0.1:5432/miaohua_test``), else in-memory SQLite;
- ``TEST_REDIS_URL`` (e.g. ``redis://127.0.0.1:6379/15``; the tests FLUSH that database), else fakeredis.
Tests that need the real thing are marked ``postgres`` / ``redis`` and skip with a reason otherwise.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from app import create_app
from app.consent.policy import ensure_initial_version
from app.core.jobs import redis_connection
from app.extensions import db
from devkit.wechat_sandbox import SandboxSettings, create_sandbox_app

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "")
USES_POSTGRES = TEST_DATABASE_URL.startswith(("postgresql", "postgres://"))
USES_REAL_REDIS = TEST_REDIS_URL.startswith(("redis://", "rediss://", "unix://"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL: set TEST_DATABASE_URL=postgresql://… (make test does in CI)")
    skip_redis = pytest.mark.skip(reason="needs a real Redis: set TEST_REDIS_URL=redis://…")
    for item in items:
        if "postgres" in item.keywords and not USES_POSTGRES:
            item.add_marker(skip_pg)
        if "redis" in item.keywords and not USES_REAL_REDIS:
            item.add_marker(skip_redis)


def make_app(**overrides) -> Flask:
    return create_app({"ENV": "testing", **overrides})


@contextmanager
def serve_in_thread(wsgi_app) -> Iterator[str]:
    """Serve a WSGI app on a loopback port for the duration; yields its base URL."""
    with run_server(make_server("127.0.0.1", 0, wsgi_app, threaded=True)) as base_url:
        yield base_url


@contextmanager
def run_server(server) -> Iterator[str]:
    """Run a ``socketserver`` server bound to a loopback port in a thread for the duration; yields its base URL."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class Sandbox:
    """The WeChat sandbox on loopback, driven the way a phone and a developer would drive it."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()

    def dev(self, path: str, payload: dict | None = None, method: str = "POST") -> dict:
        response = self.http.request(method, f"{self.base_url}/sandbox/api/{path}", json=payload, timeout=5)
        assert response.status_code < 300, response.text
        return response.json()

    def login_code(self, user: str = "alice") -> str:
        return self.dev("login-codes", {"user": user})["code"]

    def phone_code(self, user: str = "alice") -> str:
        return self.dev("phone-codes", {"user": user})["code"]

    def set_user(self, name: str, **fields) -> dict:
        return self.dev("users", {"name": name, **fields})

    def advance_clock(self, seconds: float) -> None:
        self.dev("clock", {"seconds": seconds})

    def fault(self, path: str, mode: str, count: int = 1, **options) -> None:
        self.dev("faults", {"path": path, "mode": mode, "count": count, **options})

    def pay_notification(self, notification_id: str, status: str, timeout: float = 10.0) -> dict:
        """The Pay notification's record once it has ``status`` (or, after ``timeout``, as it is then).

        ``delivered`` means our notify URL answered 2xx: after everything the handler does past its commit,
        which an order's status alone does not tell (it reads ``fulfilled`` from the commit on)."""
        deadline = time.monotonic() + timeout
        while True:
            (found,) = [n for n in self.dev("pay/notifications", method="GET")["notifications"]
                        if n["id"] == notification_id]
            if found["status"] == status or time.monotonic() > deadline:
                return found
            time.sleep(0.02)

    def reset(self) -> None:
        self.dev("reset", {})


@pytest.fixture(scope="session")
def wechat_sandbox() -> Iterator[Sandbox]:
    settings = SandboxSettings.from_env({"WECHAT_SANDBOX_MEDIA_CHECK_DELAY": "0"})
    with serve_in_thread(create_sandbox_app(settings)) as base_url:
        yield Sandbox(base_url)


@pytest.fixture(scope="session")
def app(wechat_sandbox: Sandbox) -> Iterator[Flask]:
    app = make_app(WECHAT_API_BASE_URL=wechat_sandbox.base_url, WECHAT_READ_TIMEOUT=2.0, OPENAPI_CHECK_ERRORS=True)
    with app.app_context():
        db.drop_all()
        db.create_all()
        ensure_initial_version()
    yield app
    with app.app_context():
        db.drop_all()
        db.engine.dispose()
        if db.engine.url.get_backend_name() == "sqlite" and db.engine.url.database:
            for suffix in ("", "-wal", "-shm"):  # WAL mode's companions too
                Path(db.engine.url.database + suffix).unlink(missing_ok=True)


@pytest.fixture(autouse=True)
def _clean_state(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts with empty tables, an empty queue database and no deletion-log copies."""
    yield
    if "app" not in request.fixturenames:
        return
    app: Flask = request.getfixturevalue("app")
    if "sqlalchemy" not in getattr(app, "extensions", {}):
        return  # some other package's "app" fixture (e.g. the WeChat sandbox's)
    with app.app_context():
        db.session.remove()
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(table.delete())
        db.session.commit()
        ensure_initial_version()
        redis_connection(app).flushdb()
        # The deletion log's copies belong to this test's database (empty now); left behind, a later key
        # rotation would meet segments sealed under a key that test has since dropped.
        from app.core.storage import object_store
        from app.privacy.deletion_log_copy import PREFIX

        store = object_store()
        for key in store.keys(PREFIX + "/"):
            store.delete(key)
    request.getfixturevalue("wechat_sandbox").reset()


@pytest.fixture(autouse=True)
def _documented_errors_only(request: pytest.FixtureRequest) -> Iterator[None]:
    """Real traffic keeps the OpenAPI document honest: an error code (or status) the app answered that
    the document does not list for that operation fails the test (declare it in the view's ``errors=``)."""
    yield
    if "app" not in request.fixturenames:
        return
    violations = getattr(request.getfixturevalue("app"), "extensions", {}).get("openapi_violations")
    if violations:
        found, violations[:] = sorted(set(violations)), []
        pytest.fail("errors answered but not in the OpenAPI document: " + "; ".join(found))


@pytest.fixture
def app_ctx(app: Flask) -> Iterator[Flask]:
    with app.app_context():
        yield app
        db.session.remove()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def all_at_once(count: int, call) -> list:
    """Run ``call(index)`` in ``count`` threads released together by a barrier; their results in order."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index: int) -> None:
        barrier.wait()
        results[index] = call(index)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.fixture
def shared_redis_url() -> Iterator[str]:
    """A Redis that this process and the worker/scheduler processes a test starts all reach: the real one
    in CI (TEST_REDIS_URL), else an embedded server on a free loopback port."""
    if USES_REAL_REDIS:
        yield TEST_REDIS_URL
        return
    from app.core.embedded_redis import EmbeddedRedisServer

    server = EmbeddedRedisServer(("127.0.0.1", free_port()))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"redis://127.0.0.1:{server.server_address[1]}/0"
    server.shutdown()
    server.server_close()
