"""Injected faults, and what the real wechatpy client makes of each (the backend must cope)."""

from __future__ import annotations

import time

import pytest
import requests
from wechatpy.exceptions import WeChatClientException

LOGIN_PATH = "/sns/jscode2session"


def test_delay_makes_the_client_time_out(make_client, sandbox):
    client = make_client(timeout=0.2)
    client.fetch_access_token()
    sandbox.dev("faults", {"path": LOGIN_PATH, "mode": "delay", "seconds": 0.6})
    code = sandbox.login_code("alice")

    with pytest.raises(requests.exceptions.ReadTimeout):  # wechatpy lets requests' timeout through
        client.wxa.code_to_session(code)

    assert sandbox.dev("faults")["faults"] == []
    # The abandoned call still completes in the sandbox and uses the code, as it would at WeChat:
    # a client retrying a timed-out login with the same code gets 40163.
    deadline = time.monotonic() + 5
    while not sandbox.state.codes[code].used and time.monotonic() < deadline:
        time.sleep(0.02)
    with pytest.raises(WeChatClientException) as raised:
        client.wxa.code_to_session(code)
    assert raised.value.errcode == 40163


def test_errcode_fault_defaults_to_system_error(client, sandbox):
    sandbox.dev("faults", {"path": LOGIN_PATH, "mode": "errcode", "count": 2})
    code = sandbox.login_code("alice")

    for _ in range(2):
        with pytest.raises(WeChatClientException) as raised:
            client.wxa.code_to_session(code)
        assert raised.value.errcode == -1
        assert raised.value.errmsg.startswith("system error")

    assert client.wxa.code_to_session(code)["openid"]  # the fault is spent; the code was never used


def test_errcode_fault_with_given_code_and_message(client, sandbox):
    sandbox.dev("faults", {"path": "/cgi-bin/stable_token", "mode": "errcode", "errcode": 45009,
                           "errmsg": "reach max api daily quota limit"})

    with pytest.raises(WeChatClientException) as raised:
        client.fetch_access_token()

    assert (raised.value.errcode, raised.value.errmsg) == (45009, "reach max api daily quota limit")
    assert client.fetch_access_token()["access_token"]


def test_http500_fault(client, sandbox):
    client.fetch_access_token()
    sandbox.dev("faults", {"path": LOGIN_PATH, "mode": "http500"})

    with pytest.raises(WeChatClientException) as raised:
        client.wxa.code_to_session(sandbox.login_code("alice"))

    assert raised.value.errcode is None
    assert raised.value.response.status_code == 500


def test_garbage_fault_is_returned_raw_by_wechatpy(client, sandbox):
    """wechatpy does not raise on a non-JSON body: it returns the requests.Response. Check the type."""
    client.fetch_access_token()
    sandbox.dev("faults", {"path": LOGIN_PATH, "mode": "garbage"})

    answer = client.wxa.code_to_session(sandbox.login_code("alice"))

    assert isinstance(answer, requests.Response)
    assert answer.status_code == 200 and answer.text.startswith("<html>")


def test_faults_apply_to_their_path_only_and_can_be_cleared(client, sandbox):
    listed = sandbox.dev("faults", {"path": LOGIN_PATH, "mode": "http500", "count": 3})
    assert listed["faults"][0]["remaining"] == 3

    assert client.fetch_access_token()["access_token"]  # another path: unaffected
    assert sandbox.dev("faults", method="DELETE") == {"faults": []}
    assert client.wxa.code_to_session(sandbox.login_code("alice"))["openid"]


@pytest.mark.parametrize(
    "fault",
    [{"path": "/nope", "mode": "http500"}, {"path": LOGIN_PATH, "mode": "explode"},
     {"path": LOGIN_PATH, "mode": "delay", "seconds": -1},
     {"path": LOGIN_PATH, "mode": "errcode", "count": 0}],
)
def test_invalid_faults_are_refused(sandbox, fault):
    answer = sandbox.dev("faults", fault, expected_status=400)
    assert answer["error"]
