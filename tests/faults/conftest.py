"""Fault tests: the app against servers that go away (its own throwaway Redis and PostgreSQL), a WeChat
that misbehaves (the sandbox's fault injection) and a disk that fills up.

For each fault the tests check what the user sees (a JSON error with a stable code), that nothing is
lost or left half-done (no orphan row, object or file), that no source photo outlives its job, and
that the service recovers by itself once the fault is gone. Killing a generation worker mid-job is
tested in tests/generation/test_worker_crash.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from app.core.jobs import redis_connection
from tests.accounts.helpers import Db, Phone
from tests.conftest import Sandbox, make_app
from tests.faults.servers import ThrowawayRedis
from tests.uploads.conftest import live_server, post_photo, sample_jpeg, uploader  # noqa: F401 - shared fixtures


def adult_uploader(flask_app: Flask, sandbox: Sandbox, user: str = "alice", phone: str = "13811112222") -> Phone:
    """A logged-in adult with a phone, the policy accepted and face-processing consent given."""
    person = Phone(flask_app.test_client(), sandbox, user=user, device_id=f"device-{user}")
    sandbox.set_user(user, phone=phone)
    person.login()
    person.bind_phone()
    person.accept("face_processing")
    assert person.call("POST", "/api/v1/me/age", json={"adult_confirmed": True}).status_code == 200
    return person


def stored_files(flask_app: Flask) -> set[Path]:
    """Every file under the local object store (including a write's temporary ``.incoming-`` file)."""
    root = Path(flask_app.config["STORAGE_LOCAL_ROOT"])
    return {path for path in root.rglob("*") if path.is_file()} if root.exists() else set()


@pytest.fixture(scope="module")
def redis_server() -> Iterator[ThrowawayRedis]:
    server = ThrowawayRedis()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def redis_fault_app(app: Flask, wechat_sandbox: Sandbox, redis_server: ThrowawayRedis) -> Flask:
    """The app on the tests' database but on a Redis of its own, which a test may stop."""
    return make_app(REDIS_URL=redis_server.url, WECHAT_API_BASE_URL=wechat_sandbox.base_url,
                    WECHAT_READ_TIMEOUT=2.0, REDIS_SOCKET_TIMEOUT=0.5)


@pytest.fixture
def redis_app(app: Flask, redis_fault_app: Flask, redis_server: ThrowawayRedis) -> Iterator[Flask]:
    """Each test starts with its Redis running and empty (a previous test may have stopped it)."""
    if not redis_server.running:
        redis_server.start()
    yield redis_fault_app
    if not redis_server.running:
        redis_server.start()
    redis_connection(redis_fault_app).flushdb()


@pytest.fixture
def dbx(app: Flask) -> Db:
    return Db(app)
