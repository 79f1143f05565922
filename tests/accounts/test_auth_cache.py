"""The per-process authentication cache and its auth epochs in Redis (``app.accounts.sessions``).

Two (or three) ``create_app`` instances stand for gunicorn workers: each has its own cache; they
share the database file and the Redis server (fakeredis, or TEST_REDIS_URL). Whatever one of them
(or the CLI, or a direct ORM write) changes must be refused by the others on their next request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Blueprint, Flask
from flask_login import current_user
from sqlalchemy import delete, inspect, select, update

from app.accounts import services, sessions
from app.accounts.auth import login_required
from app.accounts.models import LoginSession, User
from app.core.crypto import token_hash
from app.core.db import utcnow
from app.core.jobs import connect_redis, redis_connection
from app.extensions import db
from tests.accounts.helpers import Phone
from tests.conftest import free_port, make_app
from tests.sql import statements as counting_queries


def make_worker(app: Flask, **overrides) -> Flask:
    return make_app(WECHAT_API_BASE_URL=app.config["WECHAT_API_BASE_URL"], **overrides)


@pytest.fixture
def worker2(app) -> Iterator[Flask]:
    other = make_worker(app)
    yield other
    with other.app_context():
        db.engine.dispose()


def me(client, token: str):
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


def warm(client, token: str) -> None:
    """First request: the database (the process learns the token's user); second: the database again,
    now with the epochs read first; from the third on, the cache."""
    for _ in range(2):
        assert me(client, token).status_code == 200


def cache_of(app: Flask) -> sessions.AuthCache:
    return app.extensions[sessions.EXTENSION]




def out_of_band(app: Flask, stmt) -> None:
    """A write that bypasses the ORM session (and so every hook), like psql would."""
    with app.app_context(), db.engine.connect() as conn:
        conn.execute(stmt)
        conn.commit()


def break_redis(app: Flask) -> None:
    cache = cache_of(app)
    cache._client = connect_redis(f"redis://127.0.0.1:{free_port()}/0", 0.2)  # nothing listens there
    cache._local = threading.local()
    cache._down_until = 0.0


def repair_redis(app: Flask) -> None:
    cache = cache_of(app)
    cache._client = None  # reconnects to REDIS_URL_EFFECTIVE
    cache._local = threading.local()
    cache._down_until = 0.0


# --- the cache works, and keeps nothing it should not ----------------------------------------------

def test_a_known_token_costs_no_query(phone, worker2):
    phone.login()
    other = worker2.test_client()
    warm(other, phone.token)
    with counting_queries(worker2) as statements:
        response = me(other, phone.token)
    assert response.status_code == 200 and response.get_json()["data"]["id"]
    assert statements == []


def test_the_cache_is_keyed_by_token_hash_and_holds_no_ciphertext(phone, worker2):
    phone.login()
    phone.bind_phone()
    warm(worker2.test_client(), phone.token)
    entries = cache_of(worker2).entries
    assert phone.token not in entries and token_hash(phone.token) in entries
    assert not any(phone.token in repr(entry) for entry in entries.values())
    assert "phone_ciphertext" not in sessions._USER_KEYS
    assert not any(isinstance(value, bytes) for entry in entries.values() for value in entry.snapshot.user_values)


def test_unknown_and_blocked_are_never_cached(phone, worker2, dbx):
    phone.login()
    other = worker2.test_client()
    assert me(other, "mh_" + "x" * 43).status_code == 401
    dbx.execute(update(User).values(status="blocked"))
    for _ in range(3):
        response = me(other, phone.token)
        assert response.status_code == 403 and response.get_json()["error"]["code"] == "account_blocked"
    assert cache_of(worker2).entries == {}


@pytest.mark.parametrize("fast_attach", [True, False], ids=["fast-attach", "public-api"])
def test_current_user_is_a_real_user_in_the_request_session(phone, worker2, monkeypatch, fast_attach):
    monkeypatch.setattr(sessions, "_FAST_ATTACH", fast_attach)
    probe = Blueprint("probe", __name__)

    @probe.post("/api/v1/test/probe")
    @login_required
    def probe_view():
        user = current_user._get_current_object()
        state = inspect(user)
        assert isinstance(user, User) and user in db.session
        assert state.persistent and not state.modified and db.session.get(User, user.id) is user
        assert not db.session.dirty and not db.session.new
        identities = len(user.wechat_identities)  # a relationship: loads on access
        has_ciphertext = user.phone_ciphertext is not None  # not cached: loads on access
        blocked_reason = user.blocked_reason
        db.session.rollback()  # expires it, as any loaded instance
        assert "nickname" not in user.__dict__ and user.public_id  # and it reloads
        user.nickname = "changed by worker 2"
        assert user in db.session.dirty
        db.session.commit()
        return {"identities": identities, "has_phone": user.has_phone, "ciphertext": has_ciphertext,
                "blocked_reason": blocked_reason, "public_id": user.public_id, "status": user.status}

    worker2.register_blueprint(probe)
    phone.login()
    phone.bind_phone()
    phone.accept()
    other = worker2.test_client()
    warm(other, phone.token)
    response = other.post("/api/v1/test/probe", headers=phone.headers())
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"identities": 1, "has_phone": True, "ciphertext": True, "blocked_reason": None,
                                   "public_id": phone.get("/api/v1/me").get_json()["data"]["id"],
                                   "status": "active"}
    assert phone.get("/api/v1/me").get_json()["data"]["nickname"] == "changed by worker 2"
    assert me(other, phone.token).get_json()["data"]["nickname"] == "changed by worker 2"


def test_an_instance_already_in_the_session_is_reused(phone, app):
    phone.login()
    with app.app_context():
        snapshot = sessions.authenticate(phone.token)
        loaded = db.session.scalar(select(User))
        assert sessions.user_of(snapshot) is loaded
        db.session.remove()


# --- every kind of change reaches the other worker at once ------------------------------------------

def _logout(phone, _wechat_sandbox, _app):
    assert phone.call("POST", "/api/v1/auth/logout").status_code == 204


def _revoke_from_another_device(phone, wechat_sandbox, _app):
    other = Phone(phone.client, wechat_sandbox, "alice", "device-alice-2")
    other.login()
    target = next(s for s in other.get("/api/v1/me/sessions").get_json()["data"]["sessions"] if not s["current"])
    assert other.call("DELETE", f"/api/v1/me/sessions/{target['id']}").status_code == 204


def _revoke_all(phone, _wechat_sandbox, _app):
    assert phone.call("DELETE", "/api/v1/me/sessions").status_code == 200


def _evicted_by_a_sixth_login(phone, wechat_sandbox, _app):
    for i in range(5):
        Phone(phone.client, wechat_sandbox, "alice", f"device-{i}").login()


def _expired_in_the_database(_phone, _wechat_sandbox, app):
    with app.app_context():
        db.session.execute(update(LoginSession).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        db.session.remove()


def _account_deleted(_phone, _wechat_sandbox, app):
    with app.app_context():
        db.session.execute(delete(User))  # the database cascades to identities and sessions
        db.session.commit()
        db.session.remove()


def _session_row_deleted(_phone, _wechat_sandbox, app):
    with app.app_context():
        db.session.delete(db.session.scalar(select(LoginSession)))
        db.session.commit()
        db.session.remove()


@pytest.mark.parametrize("change", [_logout, _revoke_from_another_device, _revoke_all, _evicted_by_a_sixth_login,
                                    _expired_in_the_database, _account_deleted,
                                    _session_row_deleted])
def test_a_revoked_session_is_refused_by_the_other_worker(phone, wechat_sandbox, app, worker2, change):
    phone.login()
    other = worker2.test_client()
    warm(other, phone.token)
    change(phone, wechat_sandbox, app)
    response = me(other, phone.token)
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "authentication_required"


def test_a_block_by_the_cli_in_a_third_process_is_refused_at_once(phone, app, worker2):
    phone.login()
    other = worker2.test_client()
    warm(other, phone.token)
    cli_process = make_worker(app)
    with cli_process.app_context():
        services.block_user(db.session.scalar(select(User)), "fraud report #13")
        db.session.remove()
        db.engine.dispose()
    response = me(other, phone.token)
    assert response.status_code == 401  # block_user revoked every session


def test_a_block_by_a_direct_orm_write_elsewhere_is_refused_at_once(phone, app, worker2):
    phone.login()
    other = worker2.test_client()
    warm(other, phone.token)
    writer = make_worker(app)
    with writer.app_context():  # status only, sessions left alone: only the status check can refuse it
        db.session.execute(update(User).values(status="blocked"))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    response = me(other, phone.token)
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "account_blocked"


def test_a_profile_change_is_seen_by_the_other_worker(phone, worker2):
    phone.login()
    other = worker2.test_client()
    warm(other, phone.token)
    assert phone.call("PATCH", "/api/v1/me", json={"nickname": "新名字"}).status_code == 200
    assert me(other, phone.token).get_json()["data"]["nickname"] == "新名字"


def test_expiry_needs_no_write(phone, worker2, monkeypatch):
    phone.login()
    other = worker2.test_client()
    warm(other, phone.token)
    later = utcnow() + timedelta(days=worker2.config["SESSION_TTL_DAYS"], seconds=1)
    monkeypatch.setattr(sessions, "utcnow", lambda: later)
    assert me(other, phone.token).status_code == 401


def test_a_revocation_committed_during_the_lookup_is_not_cached_as_live(phone, app, worker2, dbx, monkeypatch):
    """The epochs are read before the database: a change committed after that read renews them."""
    phone.login()
    other = worker2.test_client()
    assert me(other, phone.token).status_code == 200  # the process now knows the token's user
    real_load = sessions._load_snapshot
    raced = []

    def load_then_revoke(key):
        snapshot = real_load(key)
        if not raced:
            raced.append(True)
            dbx.execute(update(LoginSession).values(revoked_at=utcnow()))  # commits and bumps
        return snapshot

    monkeypatch.setattr(sessions, "_load_snapshot", load_then_revoke)
    assert me(other, phone.token).status_code == 200  # live when read: served, cached with the old epochs
    assert me(other, phone.token).status_code == 401


# --- Redis trouble: the database decides --------------------------------------------------------------

def test_without_redis_every_request_asks_the_database(phone, worker2):
    phone.login()
    other = worker2.test_client()
    warm(other, phone.token)
    break_redis(worker2)
    for _ in range(3):
        with counting_queries(worker2) as statements:
            assert me(other, phone.token).status_code == 200
        assert statements  # no cache without the epochs
        cache_of(worker2)._down_until = 0.0  # try Redis again every time (it is still down)
    assert phone.call("POST", "/api/v1/auth/logout").status_code == 204
    assert me(other, phone.token).status_code == 401


def test_a_blocked_user_is_refused_without_redis(phone, worker2, dbx):
    phone.login()
    other = worker2.test_client()
    warm(other, phone.token)
    break_redis(worker2)
    dbx.execute(update(User).values(status="blocked"))
    response = me(other, phone.token)
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "account_blocked"


def test_what_was_cached_before_an_outage_is_rechecked_after_it(phone, app, worker2):
    phone.login()
    other = worker2.test_client()
    warm(other, phone.token)
    break_redis(worker2)
    assert me(other, phone.token).status_code == 200  # from the database; the cache is dropped
    out_of_band(app, update(LoginSession).values(revoked_at=utcnow()))  # a change whose bump never came
    repair_redis(worker2)
    assert me(other, phone.token).status_code == 401


def test_missing_epochs_send_everyone_to_the_database(phone, app, worker2):
    """A flushed or restarted Redis loses the epochs: no cached entry can match any more."""
    phone.login()
    other = worker2.test_client()
    warm(other, phone.token)
    out_of_band(app, update(LoginSession).values(revoked_at=utcnow()))
    redis_connection(app).flushdb()
    assert me(other, phone.token).status_code == 401


def test_a_write_outside_the_orm_needs_an_explicit_bump(phone, app, worker2):
    phone.login()
    other = worker2.test_client()
    warm(other, phone.token)
    out_of_band(app, update(LoginSession).values(revoked_at=utcnow()))
    with app.app_context():
        assert sessions.bump_auth_epoch() is True
    assert me(other, phone.token).status_code == 401


def test_a_bump_lost_to_a_redis_outage_is_bounded_by_the_ttl_and_replayed(phone, app, wechat_sandbox):
    """The writer cannot reach Redis: other workers notice within AUTH_CACHE_TTL_S, and the writer
    renews the global epoch as soon as Redis answers again."""
    ttl = 0.5
    reader = make_worker(app, AUTH_CACHE_TTL_S=ttl)
    writer = make_worker(app)
    phone.login()
    bob = Phone(phone.client, wechat_sandbox, "bob", "device-bob")
    bob.login()
    reader_client, writer_client = reader.test_client(), writer.test_client()
    warm(reader_client, phone.token)
    warm(reader_client, bob.token)
    break_redis(writer)
    assert writer_client.post("/api/v1/auth/logout", headers=phone.headers()).status_code == 204
    assert cache_of(writer).lost_bump
    deadline = time.monotonic() + ttl + 1.0
    while me(reader_client, phone.token).status_code == 200:
        assert time.monotonic() < deadline, "a revoked session outlived AUTH_CACHE_TTL_S"
        time.sleep(0.05)
    warm(reader_client, bob.token)
    repair_redis(writer)
    assert me(writer_client, bob.token).status_code == 200  # the writer reaches Redis: global bump
    assert not cache_of(writer).lost_bump
    with counting_queries(reader) as statements:
        assert me(reader_client, bob.token).status_code == 200
    assert statements  # bob's entry was invalidated by the global bump
    for worker in (reader, writer):
        with worker.app_context():
            db.engine.dispose()


def test_the_cache_can_be_turned_off(phone, app):
    off = make_worker(app, AUTH_CACHE_TTL_S=0)
    phone.login()
    client = off.test_client()
    warm(client, phone.token)
    with counting_queries(off) as statements:
        assert me(client, phone.token).status_code == 200
    assert statements and cache_of(off).entries == {}
    with off.app_context():
        db.engine.dispose()


def test_stale_entries_are_dropped_and_the_cache_is_capped():
    cache = sessions.AuthCache("fakeredis://", ttl_s=0.05, max_entries=3, redis_timeout_s=0.2, retry_after_s=1)
    snapshot = sessions.SessionSnapshot(1, 1, utcnow() + timedelta(days=1), utcnow(), ())
    for key in ("a", "b", "c", "d"):
        cache.remember(key, snapshot, None)
    assert list(cache.entries) == ["b", "c", "d"]  # the oldest went beyond the cap
    time.sleep(0.06)
    cache.remember("e", snapshot, None)
    assert list(cache.entries) == ["e"]  # the stale ones went with the next insertion


# --- bearer tokens only: no cookie session ---------------------------------------------------------------

def test_there_is_no_cookie_session(phone, app):
    from flask import session

    phone.login()
    response = phone.get("/api/v1/me")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers and "Cookie" not in response.headers.get("Vary", "")
    with app.test_request_context("/"), pytest.raises(RuntimeError, match="bearer tokens"):
        session["_user_id"] = "1"


def test_a_remember_cookie_does_not_replace_the_bearer_token(phone, client):
    phone.login()
    client.set_cookie("remember_token", "1|forged")
    assert phone.get("/api/v1/me").status_code == 200
    assert client.get("/api/v1/me").status_code == 401  # the cookie alone authenticates nobody


def test_request_threads_do_not_exhaust_the_shared_redis_pool(app, phone):
    """A threaded dev server runs each request in a new thread: the epoch reads must not leak
    connections from the pool every other Redis user (rate limits, queues) shares."""
    import threading

    from app.core.jobs import redis_connection

    phone.login()
    statuses = []

    def one_request():
        statuses.append(phone.client.application.test_client().get(
            "/api/v1/me", headers=phone.headers()).status_code)

    for _ in range(150):
        thread = threading.Thread(target=one_request)
        thread.start()
        thread.join()
    assert set(statuses) == {200}
    with app.app_context():
        assert redis_connection().ping()
