"""PostgreSQL stops (an immediate shutdown, as in a crash) while the app serves requests.

What the user sees: ``503 database_unavailable`` as JSON on every API call, never an HTML page or a
500; ``/readyz`` turns red (so the load balancer stops sending traffic) while ``/healthz`` stays
green (the process is fine: no restart loop). Nothing is half-done: a change refused during the
outage is not applied, a photo stored just before the database went away is removed again. When
PostgreSQL is back the app recovers by itself (a pooled connection idle past DATABASE_PING_AFTER_IDLE_S
is pinged before use and replaced when dead: app/core/db_pool.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.config import BaseConfig
from app.consent.policy import ensure_initial_version
from app.core import objects
from app.core.jobs import redis_connection
from app.core.objects import StoredObject
from app.core.storage import LocalObjectStore
from app.extensions import db
from app.uploads.models import Upload
from tests.conftest import Sandbox, make_app
from tests.faults.conftest import adult_uploader, post_photo, stored_files
from tests.faults.servers import ThrowawayPostgres

pytestmark = pytest.mark.faults


@pytest.fixture(scope="module")
def postgres() -> Iterator[ThrowawayPostgres]:
    server = ThrowawayPostgres()
    reason = server.unavailable_reason()
    if reason:
        pytest.skip(f"cannot start a throwaway PostgreSQL: {reason}")
    server.create()
    yield server
    server.destroy()


@pytest.fixture(scope="module")
def pg_app(postgres: ThrowawayPostgres, wechat_sandbox: Sandbox) -> Iterator[Flask]:
    """The app on its own PostgreSQL (and its own in-process queue), which the tests stop and start."""
    flask_app = make_app(SQLALCHEMY_DATABASE_URI=postgres.url,
                         SQLALCHEMY_ENGINE_OPTIONS=BaseConfig._engine_options(postgres.url),
                         REDIS_URL="fakeredis://faults-postgres", WECHAT_API_BASE_URL=wechat_sandbox.base_url,
                         WECHAT_READ_TIMEOUT=2.0, CONTENT_CHECK_ENABLED=False)
    with flask_app.app_context():
        db.create_all()
        ensure_initial_version()
    yield flask_app
    with flask_app.app_context():
        db.engine.dispose()


@pytest.fixture
def pg(pg_app: Flask, postgres: ThrowawayPostgres, wechat_sandbox: Sandbox) -> Iterator[Flask]:
    yield pg_app
    if not postgres.running:
        postgres.start()
    with pg_app.app_context():
        db.session.remove()
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(table.delete())
        db.session.commit()
        ensure_initial_version()
        redis_connection(pg_app).flushdb()
    wechat_sandbox.reset()


def count(flask_app: Flask, model) -> int:
    with flask_app.app_context():
        try:
            return db.session.scalar(select(func.count()).select_from(model))
        finally:
            db.session.remove()


def assert_database_unavailable(response) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.is_json, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == "database_unavailable"


def test_database_down_gives_json_503s_a_red_readyz_and_recovers(pg, postgres, wechat_sandbox):
    phone = adult_uploader(pg, wechat_sandbox)
    assert phone.call("PATCH", "/api/v1/me", json={"nickname": "before"}).status_code == 200
    assert phone.client.get("/readyz").status_code == 200
    postgres.stop()

    assert_database_unavailable(phone.get("/api/v1/me"))
    assert_database_unavailable(phone.call("PATCH", "/api/v1/me", json={"nickname": "during"}))
    assert_database_unavailable(phone.client.get("/api/v1/policy/current"))  # anonymous callers too
    assert_database_unavailable(phone.client.post("/api/v1/auth/wechat",
                                                  json={"code": wechat_sandbox.login_code("alice")}))
    readiness = phone.client.get("/readyz")
    assert readiness.status_code == 503 and readiness.get_json()["error"]["code"] == "not_ready"
    checks = readiness.get_json()["error"]["details"]["checks"]
    assert checks["database"].startswith("unavailable") and checks["redis"] == "ok"
    assert phone.client.get("/healthz").status_code == 200  # alive: do not restart the process

    postgres.start()
    assert phone.client.get("/readyz").status_code == 200
    me = phone.get("/api/v1/me")
    assert me.status_code == 200
    assert me.get_json()["data"]["nickname"] == "before"  # the change refused during the outage never landed


def test_database_lost_after_the_photo_was_stored_leaves_no_file_and_no_row(pg, postgres, wechat_sandbox,
                                                                           sample_jpeg, monkeypatch):
    phone = adult_uploader(pg, wechat_sandbox)
    files_before = stored_files(pg)
    real_store = objects.store

    def store_then_lose_the_database(*args, **kwargs):
        stored = real_store(*args, **kwargs)
        postgres.stop()  # the ciphertext is on disk; the commit that would record it will fail
        return stored

    monkeypatch.setattr(objects, "store", store_then_lose_the_database)
    assert_database_unavailable(post_photo(phone, sample_jpeg))
    monkeypatch.undo()
    assert stored_files(pg) == files_before  # the unrecorded file was removed again

    postgres.start()
    assert count(pg, Upload) == 0 and count(pg, StoredObject) == 0
    response = post_photo(phone, sample_jpeg)
    assert response.status_code == 201, response.get_json()
    assert count(pg, Upload) == 1 and len(stored_files(pg) - files_before) == 1


def test_database_lost_while_the_photo_is_written_leaves_no_file_and_no_row(pg, postgres, wechat_sandbox,
                                                                           sample_jpeg, monkeypatch):
    """``objects.store`` inserts the stored object's row right after writing its file: when that INSERT
    fails, the file goes too (the upload's own rollback only knows the objects ``store`` returned)."""
    phone = adult_uploader(pg, wechat_sandbox)
    files_before = stored_files(pg)
    real_put = LocalObjectStore.put

    def put_then_lose_the_database(self, key, data):
        real_put(self, key, data)
        postgres.stop()  # the ciphertext is on disk; the stored object's INSERT will fail

    monkeypatch.setattr(LocalObjectStore, "put", put_then_lose_the_database)
    assert_database_unavailable(post_photo(phone, sample_jpeg))
    monkeypatch.undo()
    assert stored_files(pg) == files_before

    postgres.start()
    assert count(pg, Upload) == 0 and count(pg, StoredObject) == 0
