"""Sessions: listing, revoking, the concurrent-session cap, expiry, and the phone guard."""

from datetime import timedelta

from sqlalchemy import select, update

from app.accounts.models import LoginSession
from app.core.db import utcnow
from tests.accounts.helpers import Phone


def test_user_lists_sessions_with_device_and_marks_the_current_one(phone, wechat_sandbox, client):
    phone.login()
    other = Phone(client, wechat_sandbox, "alice", "device-alice-2")
    other.login()
    listed = phone.get("/api/v1/me/sessions").get_json()["data"]["sessions"]
    assert len(listed) == 2
    assert [s["current"] for s in listed].count(True) == 1
    assert {s["device_model"] for s in listed} == {"iPhone 15"}
    assert all(s["method"] == "wechat" and s["last_seen_at"] for s in listed)


def test_revoking_one_session_logs_that_device_out(phone, wechat_sandbox, client):
    phone.login()
    other = Phone(client, wechat_sandbox, "alice", "device-alice-2")
    other.login()
    target = next(s for s in phone.get("/api/v1/me/sessions").get_json()["data"]["sessions"] if not s["current"])
    assert phone.call("DELETE", f"/api/v1/me/sessions/{target['id']}").status_code == 204
    assert other.get("/api/v1/me").status_code == 401
    assert phone.get("/api/v1/me").status_code == 200
    again = phone.call("DELETE", f"/api/v1/me/sessions/{target['id']}")
    assert again.status_code == 404 and again.get_json()["error"]["code"] == "session_not_found"


def test_another_users_session_cannot_be_revoked(phone, wechat_sandbox, client):
    phone.login()
    bob = Phone(client, wechat_sandbox, "bob", "device-bob")
    bob.login()
    bobs = bob.get("/api/v1/me/sessions").get_json()["data"]["sessions"][0]["id"]
    assert phone.call("DELETE", f"/api/v1/me/sessions/{bobs}").status_code == 404
    assert bob.get("/api/v1/me").status_code == 200


def test_revoke_all_and_logout(phone, wechat_sandbox, client):
    phone.login()
    other = Phone(client, wechat_sandbox, "alice", "device-alice-2")
    other.login()
    assert phone.call("DELETE", "/api/v1/me/sessions").get_json()["data"] == {"revoked": 2}
    assert phone.get("/api/v1/me").status_code == 401 and other.get("/api/v1/me").status_code == 401
    phone.login()
    assert phone.call("POST", "/api/v1/auth/logout").status_code == 204
    assert phone.get("/api/v1/me").status_code == 401


def test_sixth_login_evicts_the_oldest_session(phone, wechat_sandbox, client, app):
    assert app.config["MAX_SESSIONS_PER_USER"] == 5
    phones = [Phone(client, wechat_sandbox, "alice", f"device-{i}") for i in range(6)]
    for p in phones:
        p.login()
    assert phones[0].get("/api/v1/me").status_code == 401
    assert all(p.get("/api/v1/me").status_code == 200 for p in phones[1:])
    assert len(phones[5].get("/api/v1/me/sessions").get_json()["data"]["sessions"]) == 5


def test_expired_and_forged_tokens_are_refused(phone, dbx, client):
    phone.login()
    dbx.execute(update(LoginSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert phone.get("/api/v1/me").status_code == 401
    for header in ("Bearer mh_forged", "Bearer " + "x" * 500, "Basic abc", "Bearer", ""):
        response = client.get("/api/v1/me", headers={"Authorization": header})
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] == "authentication_required"


def test_last_seen_is_recorded_at_most_once_per_interval(phone, dbx):
    phone.login()
    before = dbx.one(select(LoginSession)).last_seen_at
    phone.get("/api/v1/me")
    assert dbx.one(select(LoginSession)).last_seen_at == before  # no write on every request
    dbx.execute(update(LoginSession).values(last_seen_at=utcnow() - timedelta(minutes=5)))
    phone.get("/api/v1/me")
    assert dbx.one(select(LoginSession)).last_seen_at > utcnow() - timedelta(minutes=1)


def test_tokens_are_stored_hashed(phone, dbx):
    phone.login()
    stored = dbx.one(select(LoginSession))
    assert phone.token not in stored.token_hash and len(stored.token_hash) == 64
