"""``jscode2session`` through ``wechatpy``'s ``code_to_session``: WeChat's login rules."""

from __future__ import annotations

import base64

import pytest
from wechatpy.exceptions import APILimitedException, WeChatClientException

from .conftest import OTHER_APPID, OTHER_SECRET


def login_error(client, code: str) -> WeChatClientException:
    with pytest.raises(WeChatClientException) as raised:
        client.wxa.code_to_session(code)
    return raised.value


def test_login_returns_openid_and_fresh_session_key(client, sandbox):
    minted = sandbox.dev("login-codes", {"user": "alice"})
    assert minted["expires_in"] == 300

    first = client.wxa.code_to_session(minted["code"])
    second = client.wxa.code_to_session(sandbox.login_code("alice"))

    assert set(first) == {"openid", "session_key"}  # no unionid: the default app is not bound
    assert first["openid"] == minted["openid"] == second["openid"]
    assert len(first["openid"]) == 28 and first["openid"].startswith("o")
    assert len(base64.b64decode(first["session_key"])) == 16
    assert first["session_key"] != second["session_key"]
    assert client.wxa.code_to_session(sandbox.login_code("bob"))["openid"] != first["openid"]


def test_unionid_is_shared_across_apps_openid_is_not(client, make_client, sandbox):
    other_client = make_client(appid=OTHER_APPID, secret=OTHER_SECRET)

    main_session = client.wxa.code_to_session(sandbox.login_code("alice"))
    other_session = other_client.wxa.code_to_session(sandbox.login_code("alice", appid=OTHER_APPID))
    bob_session = other_client.wxa.code_to_session(sandbox.login_code("bob", appid=OTHER_APPID))

    alice = next(user for user in sandbox.dev("users")["users"] if user["name"] == "alice")
    assert other_session["unionid"] == alice["unionid"] != bob_session["unionid"]
    assert other_session["openid"] != main_session["openid"]
    assert alice["openids"] == {client.appid: main_session["openid"], OTHER_APPID: other_session["openid"]}


def test_code_is_single_use(client, sandbox):
    code = sandbox.login_code("alice")
    client.wxa.code_to_session(code)

    error = login_error(client, code)

    assert error.errcode == 40163
    assert error.errmsg.startswith("code been used")


def test_code_expires_after_five_minutes(client, sandbox):
    code = sandbox.login_code("alice")
    sandbox.advance_clock(300)

    assert login_error(client, code).errcode == 40029


def test_unknown_code_and_code_of_another_app(client, sandbox):
    assert login_error(client, "0" * 32).errcode == 40029
    assert login_error(client, sandbox.login_code("alice", appid=OTHER_APPID)).errcode == 40029


def test_wrong_secret(make_client, sandbox):
    client = make_client()
    client.fetch_access_token()
    client.secret = "not-the-secret"  # code_to_session sends the secret itself

    assert login_error(client, sandbox.login_code("alice")).errcode == 40125


def test_hammering_one_code_hits_the_minute_quota(client, sandbox):
    code = sandbox.login_code("alice")
    client.wxa.code_to_session(code)
    for _ in range(4):
        assert login_error(client, code).errcode == 40163

    error = login_error(client, code)  # attempt 6 on the same code

    assert error.errcode == 45011
    assert not isinstance(error, APILimitedException)  # wechatpy reserves that for 45009


def test_more_than_100_logins_a_minute_hits_the_minute_quota(client, sandbox):
    for _ in range(100):
        client.wxa.code_to_session(sandbox.login_code("bob"))
    blocked = sandbox.login_code("bob")

    assert login_error(client, blocked).errcode == 45011
    sandbox.advance_clock(60)
    assert client.wxa.code_to_session(blocked)["openid"]  # not consumed by the refusal


def test_high_risk_user_is_refused(client, sandbox):
    created = sandbox.dev("users", {"name": "mallory", "high_risk": True}, expected_status=201)
    assert created["high_risk"] is True

    assert login_error(client, sandbox.login_code("mallory")).errcode == 40226
    sandbox.dev("users", {"name": "mallory", "high_risk": False}, expected_status=200)
    session = client.wxa.code_to_session(sandbox.login_code("mallory"))
    assert session["openid"] == created["openids"][client.appid]
