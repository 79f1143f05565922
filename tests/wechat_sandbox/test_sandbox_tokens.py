"""Access tokens: /cgi-bin/token replaces, /cgi-bin/stable_token is idempotent, tokens expire."""

from __future__ import annotations

import pytest
import requests
from wechatpy.exceptions import WeChatClientException

from .conftest import MAIN_APPID, MAIN_SECRET


def token_error(call) -> int:
    with pytest.raises(WeChatClientException) as raised:
        call()
    return raised.value.errcode


def test_token_replaced_by_another_fetcher_answers_40001(make_client, sandbox):
    first = make_client(token_endpoint="token")
    second = make_client(token_endpoint="token")
    first.fetch_access_token()
    sandbox.dev("users", {"name": "carol"})
    old_token = first.access_token

    second.fetch_access_token()  # another process fetches: WeChat invalidates the first token

    assert second.access_token != old_token
    with pytest.raises(WeChatClientException) as raised:
        first.wxa.send_subscribe_message("o-nobody", "tpl", {"thing1": {"value": "x"}})
    assert raised.value.errcode == 40001
    assert raised.value.errmsg.startswith("invalid credential, access_token is invalid or not latest rid: ")


def test_expired_token_answers_42001(client, sandbox):
    client.fetch_access_token()
    sandbox.advance_clock(7200)

    errcode = token_error(lambda: client.wxa.send_subscribe_message("o-x", "tpl", {"a": {"value": "b"}}))

    assert errcode == 42001


def test_stable_token_is_idempotent_while_valid(sandbox):
    body = {"grant_type": "client_credential", "appid": MAIN_APPID, "secret": MAIN_SECRET}
    body["force_refresh"] = False
    first = requests.post(f"{sandbox.url}/cgi-bin/stable_token", json=body, timeout=5).json()
    sandbox.advance_clock(100)
    second = requests.post(f"{sandbox.url}/cgi-bin/stable_token", json=body, timeout=5).json()

    assert set(first) == {"access_token", "expires_in"}
    assert second["access_token"] == first["access_token"]
    assert first["expires_in"] - 101 <= second["expires_in"] <= first["expires_in"] - 100

    sandbox.advance_clock(7200)  # expired: the next call issues a new one
    third = requests.post(f"{sandbox.url}/cgi-bin/stable_token", json=body, timeout=5).json()
    assert third["access_token"] != first["access_token"]
    assert third["expires_in"] == 7200


def test_stable_token_force_refresh_is_limited(sandbox):
    body = {"grant_type": "client_credential", "appid": MAIN_APPID, "secret": MAIN_SECRET}
    body["force_refresh"] = True
    url = f"{sandbox.url}/cgi-bin/stable_token"
    refreshed = requests.post(url, json=body, timeout=5).json()
    assert "access_token" in refreshed

    too_soon = requests.post(url, json=body, timeout=5).json()
    assert too_soon["errcode"] == 45009

    sandbox.advance_clock(30)
    again = requests.post(url, json=body, timeout=5).json()
    assert again["access_token"] != refreshed["access_token"]
    check = requests.post(f"{sandbox.url}/wxa/msg_sec_check", json={}, timeout=5,
                          params={"access_token": refreshed["access_token"]}).json()
    assert check["errcode"] == 40001  # force_refresh invalidated the previous stable token

    for _ in range(18):  # 20 force refreshes a day at most
        sandbox.advance_clock(31)
        assert "access_token" in requests.post(url, json=body, timeout=5).json()
    sandbox.advance_clock(31)
    assert requests.post(url, json=body, timeout=5).json()["errcode"] == 45009


@pytest.mark.parametrize(
    ("appid", "secret", "errcode"),
    [("wx00000000000000ff", MAIN_SECRET, 40013), (MAIN_APPID, "wrong", 40125), ("", MAIN_SECRET, 41002)],
)
def test_wrong_credentials(make_client, appid, secret, errcode):
    for endpoint in ("token", "stable_token"):
        client = make_client(appid=appid, secret=secret, token_endpoint=endpoint)
        assert token_error(client.fetch_access_token) == errcode


def test_missing_token_and_wrong_method(sandbox):
    missing = requests.post(f"{sandbox.url}/wxa/msg_sec_check", json={}, timeout=5).json()
    wrong_method = requests.get(f"{sandbox.url}/cgi-bin/stable_token", timeout=5).json()
    credentials = {"appid": MAIN_APPID, "secret": MAIN_SECRET}
    bad_grant = requests.get(f"{sandbox.url}/cgi-bin/token", params=credentials, timeout=5).json()

    assert missing["errcode"] == 41001
    assert wrong_method["errcode"] == 43002
    assert bad_grant["errcode"] == 40002
