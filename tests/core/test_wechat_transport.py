"""app.core.wechat over app.core.outbound's urllib3 pools: what MiniProgramClient sends, and how failures end.

The sandbox tests (tests/accounts, tests/faults) cover the product's calls end to end; here a scripted
gateway shows what they cannot: the connection kept alive, the request on the wire, timeouts and refused
connections with the number of attempts, and the environment read once.
"""

from __future__ import annotations

import json
import time

import fakeredis
import pytest
import requests

from app.core import wechat
from app.core.wechat import MiniProgramClient, WeChatError, WeChatUnavailable
from tests.conftest import free_port
from tests.gateway import Answer, KeepAliveGateway

SESSION = {"openid": "o-alice", "session_key": "c2Vzc2lvbi1rZXk="}


class Gateway(KeepAliveGateway):
    """A WeChat that answers from a script: for each path a list of ``(status, body, delay)``, the last one
    repeated."""

    def __init__(self) -> None:
        super().__init__()
        self.script: dict[str, list[tuple[int, bytes, float]]] = {
            "/cgi-bin/stable_token": [(200, b'{"access_token": "TOKEN-1", "expires_in": 7200}', 0.0)],
        }

    def respond(self, path: str) -> Answer:
        answers = self.script.get(path) or [(200, json.dumps(SESSION).encode(), 0.0)]
        status, answer, delay = answers.pop(0) if len(answers) > 1 else answers[0]
        return status, {"Content-Type": "application/json" if answer.startswith(b"{") else "text/html"}, answer, delay

    def answer(self, path: str, *answers: tuple[int, bytes, float]) -> None:
        self.script[path] = list(answers)


@pytest.fixture(autouse=True)
def no_proxy_env(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy",
                 "no_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    """The back-off sleeps between attempts (recorded, not slept)."""
    slept: list[float] = []
    monkeypatch.setattr(wechat.time, "sleep", slept.append)
    return slept


def client_for(base_url: str, **options) -> MiniProgramClient:
    return MiniProgramClient("wx-app", "app-secret", base_url=base_url, redis=fakeredis.FakeRedis(), **options)


def test_calls_go_as_wechatpy_built_them_over_one_kept_alive_connection():
    gateway = Gateway()
    gateway.answer("/wxa/business/getuserphonenumber", (200, '{"errcode": 0, "phone_info": {"phoneNumber": '
                                                             '"13811112222", "说明": "手机号"}}'.encode(), 0.0))
    with gateway.serving() as url:
        client = client_for(url)
        assert client.code_to_session("CODE-1") == SESSION
        assert client.code_to_session("CODE-2") == SESSION
        assert client.get_phone_number("PHONE-CODE")["说明"] == "手机号"
    login, _, token, phone = gateway.seen
    assert (login["method"], login["path"]) == ("GET", "/sns/jscode2session")
    assert login["query"] == {"appid": ["wx-app"], "secret": ["app-secret"], "js_code": ["CODE-1"],
                              "grant_type": ["authorization_code"]}  # no access_token on a token-less call
    assert (token["method"], token["path"], json.loads(token["body"])["force_refresh"]) == (
        "POST", "/cgi-bin/stable_token", False)
    assert (phone["method"], phone["path"], phone["query"]) == (
        "POST", "/wxa/business/getuserphonenumber", {"access_token": ["TOKEN-1"]})
    assert json.loads(phone["body"]) == {"code": "PHONE-CODE"}
    assert len({seen["port"] for seen in gateway.seen}) == 1  # one connection, kept alive


def test_errcodes_are_wechat_errors_and_a_stale_token_is_refreshed_once():
    gateway = Gateway()
    gateway.answer("/sns/jscode2session", (200, b'{"errcode": 40029, "errmsg": "invalid code"}', 0.0))
    gateway.answer("/wxa/msg_sec_check", (200, b'{"errcode": 40001, "errmsg": "invalid credential"}', 0.0),
                   (200, b'{"errcode": 0, "result": {"suggest": "pass"}}', 0.0))
    gateway.answer("/cgi-bin/stable_token", (200, b'{"access_token": "TOKEN-1", "expires_in": 7200}', 0.0),
                   (200, b'{"access_token": "TOKEN-2", "expires_in": 7200}', 0.0))
    with gateway.serving() as url:
        client = client_for(url)
        with pytest.raises(WeChatError) as raised:
            client.code_to_session("SPENT")
        assert raised.value.errcode == 40029
        assert client.check_text("小明", "o-alice")["result"] == {"suggest": "pass"}
    checks = [seen for seen in gateway.seen if seen["path"] == "/wxa/msg_sec_check"]
    assert [seen["query"]["access_token"] for seen in checks] == [["TOKEN-1"], ["TOKEN-2"]]
    assert json.loads(checks[1]["body"])["content"] == "小明"


def test_a_read_timeout_is_unavailable_and_never_repeated(sleeps):
    gateway = Gateway()
    gateway.answer("/sns/jscode2session", (200, json.dumps(SESSION).encode(), 1.0))
    with gateway.serving() as url:
        client = client_for(url, connect_timeout=1.0, read_timeout=0.2, max_attempts=3)
        started = time.monotonic()
        with pytest.raises(WeChatUnavailable, match="did not answer in time"):
            client.code_to_session("CODE")  # the code may be spent: asking again would hide the outcome
        assert time.monotonic() - started < 0.9
    assert len(gateway.seen) == 1 and sleeps == []


def test_a_refused_connection_is_tried_max_attempts_times_then_unavailable(sleeps, monkeypatch):
    client = client_for(f"http://127.0.0.1:{free_port()}", max_attempts=3)
    sent: list[str] = []
    send = client._http.send
    monkeypatch.setattr(client._http, "send", lambda method, url, **kw: sent.append(url) or send(method, url, **kw))
    with pytest.raises(WeChatUnavailable, match="cannot reach WeChat") as raised:
        client.code_to_session("CODE")
    assert isinstance(raised.value.__cause__, requests.ConnectionError)
    assert len(sent) == 3 and sleeps == [0.2, 0.4]  # WECHAT_MAX_ATTEMPTS, backing off: no retry storm


@pytest.mark.parametrize(("status", "body", "message"), [
    (200, b"<html>gateway</html>", "not JSON"),
    (502, b"<html>bad gateway</html>", "HTTP 502"),
    (500, b'{"errcode": -1}', "HTTP 500"),
])
def test_an_answer_that_is_not_the_api_is_unavailable(status, body, message):
    gateway = Gateway()
    gateway.answer("/sns/jscode2session", (status, body, 0.0))
    with gateway.serving() as url, pytest.raises(WeChatUnavailable, match=message):
        client_for(url).code_to_session("CODE")
    assert len(gateway.seen) == 1  # WeChat received it: not repeated


def test_the_proxy_comes_from_the_environment_read_once_when_the_client_is_built(monkeypatch):
    gateway = Gateway()
    reads: list[str] = []
    merge = requests.Session.merge_environment_settings
    monkeypatch.setattr(requests.Session, "merge_environment_settings",
                        lambda self, url, *args: reads.append(url) or merge(self, url, *args))
    with gateway.serving() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy)
        client = client_for("http://api.weixin.example.invalid")
        monkeypatch.delenv("HTTP_PROXY")  # too late: the client has what it needs
        for code in ("CODE-1", "CODE-2"):
            assert client.code_to_session(code) == SESSION
    assert [(seen["host"], seen["path"]) for seen in gateway.seen] == [
        ("api.weixin.example.invalid", "/sns/jscode2session")] * 2
    assert reads == ["http://api.weixin.example.invalid"]


def test_wechatpy_calls_the_product_does_not_make_are_refused_not_sent_differently():
    with Gateway().serving() as url, pytest.raises(TypeError, match="files"):
        client_for(url)._http.request("post", f"{url}/cgi-bin/media/upload", files={"media": b"x"})
