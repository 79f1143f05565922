"""``getuserphonenumber`` and subscribe messages, called the way wechatpy calls WeChat."""

from __future__ import annotations

import pytest
from wechatpy.exceptions import WeChatClientException

from .conftest import OTHER_APPID


def phone_number(client, code: str) -> dict:
    return client.post(client.api_url("wxa/business/getuserphonenumber"), data={"code": code})


def test_phone_code_returns_the_users_number_once(client, sandbox):
    sandbox.dev("users", {"name": "alice", "phone": "13900001111"})
    minted = sandbox.dev("phone-codes", {"user": "alice"})
    assert minted["expires_in"] == 300

    answer = phone_number(client, minted["code"])

    assert answer["errcode"] == 0 and answer["errmsg"] == "ok"
    info = answer["phone_info"]
    assert info["phoneNumber"] == info["purePhoneNumber"] == "13900001111"
    assert info["countryCode"] == "86"
    assert info["watermark"]["appid"] == client.appid
    assert abs(info["watermark"]["timestamp"] - sandbox.state.clock.now()) < 5
    with pytest.raises(WeChatClientException) as raised:
        phone_number(client, minted["code"])
    assert raised.value.errcode == 40163


def test_default_phone_is_deterministic(client, sandbox):
    users = {user["name"]: user for user in sandbox.dev("users")["users"]}
    answer = phone_number(client, sandbox.dev("phone-codes", {"user": "bob"})["code"])

    assert answer["phone_info"]["purePhoneNumber"] == users["bob"]["phone"]
    assert users["bob"]["phone"].startswith("1380013") and len(users["bob"]["phone"]) == 11


@pytest.mark.parametrize("case", ["expired", "unknown", "other_app"])
def test_invalid_phone_codes(client, sandbox, case):
    code = {
        "expired": lambda: sandbox.dev("phone-codes", {"user": "alice"})["code"],
        "unknown": lambda: "f" * 32,
        "other_app": lambda: sandbox.dev("phone-codes", {"user": "alice", "appid": OTHER_APPID})["code"],
    }[case]()
    if case == "expired":
        sandbox.advance_clock(301)

    with pytest.raises(WeChatClientException) as raised:
        phone_number(client, code)

    assert raised.value.errcode == 40029


def test_login_code_is_not_a_phone_code(client, sandbox):
    with pytest.raises(WeChatClientException) as raised:
        phone_number(client, sandbox.login_code("alice"))
    assert raised.value.errcode == 40029


def test_subscribe_message_needs_one_authorisation_per_message(client, sandbox):
    openid = client.wxa.code_to_session(sandbox.login_code("alice"))["openid"]
    data = {"thing1": {"value": "你的画作已完成"}, "time2": {"value": "2026-11-29 10:00"}}

    with pytest.raises(WeChatClientException) as refused:
        client.wxa.send_subscribe_message(openid, "TPL_DONE", data, page="pages/work/index?id=1")
    assert refused.value.errcode == 43101

    grant = sandbox.dev("subscriptions", {"user": "alice", "template_id": "TPL_DONE"})
    assert grant == {"user": "alice", "appid": client.appid, "openid": openid, "template_id": "TPL_DONE",
                     "remaining": 1}
    sent = client.wxa.send_subscribe_message(openid, "TPL_DONE", data, page="pages/work/index?id=1")

    assert sent["errcode"] == 0 and isinstance(sent["msgid"], int)
    [message] = sandbox.dev("subscribe-messages")["messages"]
    assert message["msgid"] == sent["msgid"]
    assert message["user"] == "alice" and message["touser"] == openid
    assert message["data"] == data and message["page"] == "pages/work/index?id=1"
    assert message["miniprogram_state"] == "formal" and message["lang"] == "zh_CN"
    with pytest.raises(WeChatClientException) as consumed:
        client.wxa.send_subscribe_message(openid, "TPL_DONE", data)
    assert consumed.value.errcode == 43101


def test_subscribe_message_full_body_and_errors(client, sandbox):
    grant = sandbox.dev("subscriptions", {"user": "bob", "template_id": "TPL", "count": 2})
    body = {"touser": grant["openid"], "template_id": "TPL", "page": "pages/index", "lang": "en_US",
            "miniprogram_state": "trial", "data": {"thing1": {"value": "hi"}}}
    url = client.api_url("cgi-bin/message/subscribe/send")

    assert client.post(url, data=body)["errcode"] == 0
    assert sandbox.dev("subscribe-messages")["messages"][0]["miniprogram_state"] == "trial"
    for change, errcode in [({"touser": "o-unknown"}, 40003), ({"template_id": ""}, 40037),
                            ({"data": {"thing1": "hi"}}, 47003), ({"lang": "fr_FR"}, 47003)]:
        with pytest.raises(WeChatClientException) as raised:
            client.post(url, data={**body, **change})
        assert raised.value.errcode == errcode, change
