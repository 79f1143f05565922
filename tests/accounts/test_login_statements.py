"""The WeChat login's prebuilt statements (``app.accounts.login_sql``): how many, and what they keep under races."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from app.accounts import login_sql, services
from app.accounts.models import Device, LoginSession, User, WechatIdentity
from app.core.crypto import lookup_hash, open_text
from app.core.db import utcnow
from app.extensions import db
from tests.accounts.helpers import Phone
from tests.conftest import USES_POSTGRES, all_at_once
from tests.sql import statements as counted_statements


def test_a_returning_users_login_is_three_statements_on_postgresql_four_on_sqlite(phone, app, client,
                                                                                   wechat_sandbox):
    # The identity and its user (one statement on PostgreSQL, two on SQLite), the device, the session; the
    # eviction beyond the cap rides with the session on PostgreSQL and is a statement of its own on SQLite.
    phone.login()
    with counted_statements(app) as statements:
        phone.login()
    assert len(statements) == (3 if USES_POSTGRES else 4), statements
    for i in range(4):
        Phone(client, wechat_sandbox, "alice", f"device-{i}").login()  # five live sessions now
    with counted_statements(app) as statements:
        phone.login()
    assert len(statements) == (3 if USES_POSTGRES else 5), statements
    assert len(phone.get("/api/v1/me/sessions").get_json()["data"]["sessions"]) == 5


@pytest.mark.postgres
def test_concurrent_first_logins_of_one_wechat_user_make_one_account(app, wechat_sandbox, dbx):
    codes = [wechat_sandbox.login_code("newcomer") for _ in range(10)]

    def login(index: int):
        response = app.test_client().post("/api/v1/auth/wechat", json={
            "code": codes[index], "device": {"device_id": f"device-{index}", "model": "iPhone 15"}})
        return response.status_code, response.get_json()

    answers = all_at_once(10, login)
    assert [status for status, _ in answers] == [200] * 10, answers
    assert len({body["data"]["user"]["id"] for _, body in answers}) == 1
    assert sum(body["data"]["new_user"] for _, body in answers) == 1
    assert dbx.count(User) == 1 and dbx.count(WechatIdentity) == 1 and dbx.count(Device) == 10
    assert dbx.count(LoginSession) == 10
    # The user row lock keeps the cap under the race: exactly the newest MAX_SESSIONS_PER_USER stay live.
    assert dbx.count(LoginSession, LoginSession.revoked_at.is_(None)) == app.config["MAX_SESSIONS_PER_USER"]


def test_a_new_openid_with_a_known_unionid_joins_that_account(app, dbx):
    def login(openid: str, session_key: str) -> services.LoginResult:
        with app.test_request_context():
            try:
                return services._complete_wechat_login(
                    {"openid": openid, "unionid": "union-1", "session_key": session_key}, None)
            finally:
                db.session.remove()

    first = login("openid-app-1", "key-one-0123456789")
    second = login("openid-app-2", "key-two-0123456789")
    assert first.new_user and not second.new_user and second.user.id == first.user.id
    again = login("openid-app-1", "key-three-012345678")
    assert again.user.id == first.user.id and not again.new_user
    assert again.session.expires_at > utcnow() and again.user.last_login_at is not None
    identities = dbx.run(lambda s: s.execute(select(WechatIdentity.openid_hash, WechatIdentity.unionid_hash,
                                                    WechatIdentity.session_key_ciphertext)
                                             .order_by(WechatIdentity.id)).all())
    with app.app_context():
        union = lookup_hash("union-1", services.UNIONID_PURPOSE)
        assert [row.openid_hash for row in identities] == [lookup_hash(o, services.OPENID_PURPOSE)
                                                           for o in ("openid-app-1", "openid-app-2")]
        assert {row.unionid_hash for row in identities} == {union}
        keys = [open_text(row.session_key_ciphertext, services.SESSION_KEY_PURPOSE) for row in identities]
    assert keys == ["key-three-012345678", "key-two-0123456789"]
    assert dbx.count(User) == 1
    assert dbx.run(lambda s: s.scalar(select(func.count()).select_from(LoginSession))) == 3


@pytest.mark.postgres
def test_concurrent_logins_of_one_user_keep_the_session_cap(app, wechat_sandbox, client, dbx, monkeypatch):
    for i in range(4):
        Phone(client, wechat_sandbox, "alice", f"device-{i}").login()
    insert_session = login_sql.insert_session

    def slow_insert_session(*args):  # widens the race: every login is inside its transaction at once
        time.sleep(0.05)
        return insert_session(*args)

    monkeypatch.setattr(login_sql, "insert_session", slow_insert_session)
    codes = [wechat_sandbox.login_code("alice") for _ in range(10)]

    def login(index: int) -> int:
        return app.test_client().post("/api/v1/auth/wechat", json={
            "code": codes[index], "device": {"device_id": f"racing-{index}"}}).status_code

    assert all_at_once(10, login) == [200] * 10
    # Each login waits for the row locks (user, identity) of the one before, sees its session, evicts past the cap.
    assert dbx.count(LoginSession, LoginSession.revoked_at.is_(None)) == app.config["MAX_SESSIONS_PER_USER"]
