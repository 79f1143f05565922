"""WeChat login end to end: the real wechatpy client → the sandbox over HTTP → our token."""

import pytest
from sqlalchemy import delete, select, update

from app.accounts.models import LoginSession, User, WechatIdentity
from app.core.crypto import open_text


def test_first_login_creates_an_account_and_returns_our_own_token(phone, dbx):
    data = phone.login()["data"]
    assert data["token"].startswith("mh_")
    assert data["new_user"] is True and data["needs_phone"] is True
    assert data["user"]["phone_bound"] is False
    assert "session_key" not in str(data) and "openid" not in str(data)
    me = phone.get("/api/v1/me")
    assert me.status_code == 200
    assert me.get_json()["data"]["id"] == data["user"]["id"]


def test_second_login_finds_the_same_account(phone, dbx):
    first = phone.login()["data"]["user"]["id"]
    again = phone.login()["data"]
    assert again["user"]["id"] == first and again["new_user"] is False
    assert dbx.count(User) == 1 and dbx.count(WechatIdentity) == 1


def test_session_key_is_kept_encrypted_server_side(phone, app, dbx):
    phone.login()
    identity = dbx.one(select(WechatIdentity))
    with app.app_context():
        session_key = open_text(identity.session_key_ciphertext, "wechat.session_key")
        openid = open_text(identity.openid_ciphertext, "wechat.openid")
    assert len(session_key) >= 16
    assert session_key.encode() not in identity.session_key_ciphertext
    assert openid.encode() not in identity.openid_ciphertext and identity.openid_hash != openid


@pytest.mark.parametrize(("code_kind", "status", "error_code"), [
    ("unknown", 400, "wechat_code_invalid"),
    ("reused", 400, "wechat_code_used"),
    ("expired", 400, "wechat_code_invalid"),
])
def test_bad_codes_are_refused_and_leave_nothing_behind(phone, wechat_sandbox, dbx, code_kind, status,
                                                        error_code):
    if code_kind == "unknown":
        code = "081NotAReal0Code"
    else:
        code = wechat_sandbox.login_code("alice")
        if code_kind == "reused":
            phone.login(code)
            dbx.execute(delete(User))  # cascades to identities and sessions
        else:
            wechat_sandbox.advance_clock(301)
    data = phone.login(code, expect=status)
    assert data["error"]["code"] == error_code
    assert dbx.count(User) == 0 and dbx.count(LoginSession) == 0 and dbx.count(WechatIdentity) == 0


def test_high_risk_wechat_user_is_refused(phone, wechat_sandbox, dbx):
    wechat_sandbox.set_user("alice", high_risk=True)
    assert phone.login(expect=403)["error"]["code"] == "wechat_risky_user"
    assert dbx.count(User) == 0


def test_hammered_code_is_rate_limited_by_wechat(phone, wechat_sandbox, dbx):
    code = wechat_sandbox.login_code("alice")
    phone.login(code)
    codes = [phone.login(code, expect=400)["error"]["code"] for _ in range(4)]
    assert set(codes) == {"wechat_code_used"}
    limited = phone.client.post("/api/v1/auth/wechat", json={"code": code})
    assert limited.status_code == 429
    assert limited.get_json()["error"]["code"] == "wechat_rate_limited"
    assert limited.get_json()["error"]["details"]["retry_after"] > 0


@pytest.mark.parametrize(("mode", "options"), [
    ("http500", {}),
    ("garbage", {}),
    ("errcode", {"errcode": -1}),
    ("delay", {"seconds": 3}),
])
def test_wechat_down_or_slow_is_a_clean_503(phone, wechat_sandbox, dbx, mode, options):
    wechat_sandbox.fault("/sns/jscode2session", mode, count=5, **options)
    data = phone.login(expect=503)
    assert data["error"]["code"] == "wechat_unavailable"
    assert dbx.count(User) == 0 and dbx.count(LoginSession) == 0


def test_one_system_busy_answer_is_retried(phone, wechat_sandbox, dbx):
    wechat_sandbox.fault("/sns/jscode2session", "errcode", count=1, errcode=-1)
    assert phone.login()["data"]["new_user"] is True


def test_blocked_account_cannot_log_in_and_loses_its_sessions(phone, app, dbx):
    phone.login()
    user = dbx.one(select(User))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["accounts", "block", user.public_id, "--reason", "fraud report #12"])
    assert result.exit_code == 0, result.output
    assert "1 session(s) revoked" in result.output
    assert phone.get("/api/v1/me").status_code == 401  # the token was revoked with the block
    sessions_before = dbx.count(LoginSession)
    assert phone.login(expect=403)["error"]["code"] == "account_blocked"
    assert dbx.count(LoginSession) == sessions_before  # nothing half-written
    runner.invoke(args=["accounts", "unblock", user.public_id])
    phone.login()
    assert phone.get("/api/v1/me").status_code == 200


def test_login_body_is_validated(client):
    response = client.post("/api/v1/auth/wechat", json={"code": "", "device": {"device_id": "x" * 500}})
    assert response.status_code == 422
    fields = {f["field"] for f in response.get_json()["error"]["details"]["fields"]}
    assert fields == {"code", "device.device_id"}
    extra = client.post("/api/v1/auth/wechat", json={"code": "abc", "openid": "forged"})
    assert extra.status_code == 422


def test_a_session_of_a_blocked_account_is_refused_on_every_request(phone, dbx):
    phone.login()
    dbx.execute(update(User).values(status="blocked"))  # e.g. blocked by another process
    me = phone.get("/api/v1/me")
    assert me.status_code == 403 and me.get_json()["error"]["code"] == "account_blocked"
