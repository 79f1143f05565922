"""PostgreSQL pool health (app/core/db_pool.py): a pooled connection is pinged only after sitting idle, and one
that died meanwhile is replaced before a request sees it. Against the real server: its backends are killed
with ``pg_terminate_backend``, as a restart or an idle timeout would."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from app.core.db_pool import ping_when_idle
from app.extensions import db

pytestmark = pytest.mark.postgres


@pytest.fixture
def engine_with(app) -> Iterator:
    engines: list[Engine] = []

    def make(idle_s: float) -> tuple[Engine, list[int]]:
        engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"], pool_size=1, max_overflow=0)
        ping_when_idle(engine, idle_s)
        pings: list[int] = []
        real_ping = engine.dialect.do_ping
        engine.dialect.do_ping = lambda dbapi_connection: pings.append(1) or real_ping(dbapi_connection)
        engines.append(engine)
        return engine, pings

    yield make
    for engine in engines:
        engine.dispose()


def backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def terminate(app, *pids: int) -> None:
    killer = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    with killer.connect() as conn:
        for pid in pids:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    killer.dispose()


def test_a_connection_used_moments_ago_goes_unpinged_an_idle_one_is_pinged(engine_with):
    engine, pings = engine_with(0.2)
    first = backend_pid(engine)
    assert pings == []  # a fresh connection
    assert backend_pid(engine) == first and pings == []  # handed back a moment ago: no round trip
    time.sleep(0.25)
    assert backend_pid(engine) == first and pings == [1]  # idle past the window: pinged, alive, kept


def test_zero_pings_every_checkout(engine_with):
    engine, pings = engine_with(0)
    backend_pid(engine)
    backend_pid(engine)
    assert len(pings) == 2


def test_a_connection_that_died_while_idle_is_replaced_before_use(app, engine_with):
    engine, pings = engine_with(0.1)
    old = backend_pid(engine)
    terminate(app, old)
    time.sleep(0.15)
    assert backend_pid(engine) != old  # no error: the ping found it dead, the pool connected anew
    assert pings == [1]


def test_within_the_window_a_dead_connection_fails_one_use_then_the_pool_recovers(app, engine_with):
    """The trade-off the module states: no ping, so the one use that takes it fails; the next one works."""
    engine, pings = engine_with(60)
    old = backend_pid(engine)
    terminate(app, old)
    with pytest.raises(OperationalError) as failure:
        backend_pid(engine)
    assert failure.value.connection_invalidated
    assert backend_pid(engine) != old and pings == []


def test_the_app_survives_its_connections_being_killed_while_idle(app):
    with app.app_context():
        assert app.config["DATABASE_PING_AFTER_IDLE_S"] == 0.5
        pids = [backend_pid(db.engine) for _ in range(2)]
        with db.engine.connect() as conn:
            database = conn.execute(text("SELECT current_database()")).scalar_one()
    terminate(app, *set(pids))
    time.sleep(0.6)
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 200, ready.get_json()
    assert ready.get_json()["data"]["checks"]["database"] == "ok"
    with app.app_context():
        assert db.session.execute(text("SELECT current_database()")).scalar_one() == database
        assert backend_pid(db.engine) not in pids
