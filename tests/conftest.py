"""Shared fixtures.

Backends come from the environment, as in CI:
- ``TEST_DATABASE_URL`` (e.g. ``postgresql://postgres@127.0.0.1:5432/miaohua_test``), else in-memory SQLite;
- ``TEST_REDIS_URL`` (e.g. ``redis://127.0.0.1:6379/15``; the tests FLUSH that database), else fakeredis.
Tests that need the real thing are marked ``postgres`` / ``redis`` and skip with a reason otherwise.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.core.jobs import redis_connection
from app.extensions import db

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


@pytest.fixture(scope="session")
def app() -> Iterator[Flask]:
    app = make_app()
    with app.app_context():
        db.drop_all()
        db.create_all()
    yield app
    with app.app_context():
        db.drop_all()
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _clean_state(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts with empty tables and an empty queue database."""
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
        redis_connection(app).flushdb()


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
