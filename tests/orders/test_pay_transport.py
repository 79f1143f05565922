"""app.orders.pay_transport: what wechatpayv3 sends and reads, through kept-alive urllib3 pools."""

from __future__ import annotations

import json

import pytest
import requests
import wechatpayv3.core

from app.orders import pay_transport
from app.orders.pay_transport import PayTransport, pool_for
from tests.conftest import free_port
from tests.gateway import Answer, KeepAliveGateway

ANSWER = '{"prepay_id": "wx201410272009395522657a690389285100", "说明": "预支付"}'


class Recorder(KeepAliveGateway):
    """WeChat Pay's gateway answering every request with a prepay id, after ``delay`` seconds."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.delay = delay

    def respond(self, path: str) -> Answer:
        headers = {"Content-Type": "application/json", "Wechatpay-Serial": "PUB_KEY_ID_0001"}
        return 200, headers, ANSWER.encode(), self.delay


@pytest.fixture
def no_proxy_env(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy",
                 "no_proxy"):
        monkeypatch.delenv(name, raising=False)


def test_json_goes_as_the_text_wechatpayv3_signed_and_the_answer_reads_like_requests(no_proxy_env):
    data = {"appid": "wx1", "description": "头像制作", "amount": {"total": 2990, "currency": "CNY"}}
    recorder = Recorder()
    with recorder.serving() as url:
        answer = PayTransport().post(f"{url}/v3/pay/transactions/jsapi", json=data, timeout=(3, 10), proxies=None,
                                     headers={"Content-Type": "application/json", "Authorization": "WECHATPAY2 x"})
    [seen] = recorder.seen
    assert seen["body"] == json.dumps(data).encode()  # what build_authorization signed, byte for byte
    assert (seen["method"], seen["path"], seen["content_type"], seen["authorization"]) == (
        "POST", "/v3/pay/transactions/jsapi", "application/json", "WECHATPAY2 x")
    assert answer.status_code == 200
    assert answer.headers.get("wechatpay-serial") == answer.headers.get("Wechatpay-Serial") == "PUB_KEY_ID_0001"
    assert answer.text == ANSWER and answer.content == ANSWER.encode()  # JSON without a charset: UTF-8


def test_calls_reuse_one_kept_alive_connection(no_proxy_env):
    recorder = Recorder()
    transport = PayTransport()
    with recorder.serving() as url:
        for _ in range(3):
            assert transport.get(f"{url}/v3/pay/transactions/out-trade-no/MH1", timeout=(3, 10)).status_code == 200
    assert len(recorder.seen) == 3 and len({seen["port"] for seen in recorder.seen}) == 1


def test_failures_are_requests_exceptions_so_callers_keep_catching_them(no_proxy_env):
    transport = PayTransport()
    with pytest.raises(requests.ConnectionError):
        transport.get(f"http://127.0.0.1:{free_port()}/v3/certificates", timeout=(1, 1))
    with Recorder(delay=1.0).serving() as url, pytest.raises(requests.Timeout):
        transport.get(f"{url}/v3/certificates", timeout=(1, 0.2))


def test_the_proxy_and_ca_bundle_come_from_the_environment(no_proxy_env, monkeypatch, tmp_path):
    recorder = Recorder()
    with recorder.serving() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy)
        answer = PayTransport().get("http://pay.example.invalid/v3/certificates", timeout=(3, 10))
    assert answer.status_code == 200
    assert [(seen["host"], seen["path"]) for seen in recorder.seen] == [("pay.example.invalid", "/v3/certificates")]

    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    assert pool_for("https://api.mch.weixin.qq.com").connection_pool_kw["ca_certs"] == str(bundle)


def test_install_replaces_requests_in_wechatpayv3_once(monkeypatch):
    monkeypatch.setattr(wechatpayv3.core, "requests", requests)
    pay_transport.install()
    installed = wechatpayv3.core.requests
    pay_transport.install()
    assert isinstance(installed, PayTransport) and wechatpayv3.core.requests is installed
    assert installed.RequestException is requests.RequestException  # the rest of the module, unchanged
