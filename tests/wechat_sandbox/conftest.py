"""Fixtures: a WeChat sandbox on a loopback port, a fake backend, and the real wechatpy client.

The tests talk to the sandbox exactly as the backend will: over HTTP, with ``wechatpy.WeChatClient``
whose base URLs point at the sandbox (:func:`sandbox_wechat_client`).  The fake backend plays the
backend's part of the protocol the sandbox calls back: it serves media files for
``media_check_async`` and receives the encrypted ``wxa_media_check`` pushes.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from wechatpy import WeChatClient
from wechatpy.client.api.base import BaseWeChatAPI
from wechatpy.exceptions import WeChatClientException
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from devkit.wechat_sandbox import SandboxApp, SandboxSettings, create_sandbox_app
from devkit.wechat_sandbox.state import SandboxState

OFFICIAL_API_BASE_URL = "https://api.weixin.qq.com/"
STABLE_TOKEN_ENDPOINT = "stable_token"
TOKEN_ENDPOINTS = (STABLE_TOKEN_ENDPOINT, "token")

MAIN_APPID = "wx5a1d0b0c0ffee001"
MAIN_SECRET = "sandbox-app-secret"
MAIN_PUSH_TOKEN = "sandbox-push-token"
MAIN_ENCODING_AES_KEY = "G6rj5V0M5XnL4638pbuQlCiPyGopowuURYwfSDfRSiM"
MAIN_ORIGINAL_ID = "gh_5a1d0b0c0fee"
# A second app, bound to an Open Platform account, to see unionids shared across apps.
OTHER_APPID = "wx0123456789abcdef"
OTHER_SECRET = "other-app-secret"


class SandboxWeChatClient(WeChatClient):
    """``wechatpy.WeChatClient`` with every ``https://api.weixin.qq.com/`` URL moved to ``base_url``.

    wechatpy hard-codes WeChat's host in three places, all handled here:

    * ``WeChatClient.API_BASE_URL`` (``…/cgi-bin/``), used by ``client.get/post("relative/path")``;
    * each API object's own ``API_BASE_URL`` (``client.wxa``, ``client.message`` …): wechatpy builds
      one API object per client (``BaseWeChatClient.__new__``), so setting the attribute on those
      instances changes this client only, never the class shared with other clients;
    * the token URL inside ``fetch_access_token``, replaced by a fetch that also passes ``timeout``
      (wechatpy's ``_fetch_access_token`` sends none) and can use ``/cgi-bin/stable_token``.

    APIs that pass absolute URLs (``customservice``) are not moved; the product does not use them.
    Always built with ``auto_retry=False``: wechatpy's own retry on 40001/42001 never ends.
    """

    def __init__(
        self,
        appid: str,
        secret: str,
        *,
        base_url: str,
        timeout: float,
        token_endpoint: str = STABLE_TOKEN_ENDPOINT,
    ) -> None:
        super().__init__(appid, secret, timeout=timeout, auto_retry=False)
        if token_endpoint not in TOKEN_ENDPOINTS:
            raise ValueError("token_endpoint is 'stable_token' or 'token'")
        self.base_url = base_url.rstrip("/") + "/"
        self.token_endpoint = token_endpoint
        self.API_BASE_URL = self.rebase(WeChatClient.API_BASE_URL)
        for api in list(vars(self).values()):
            if isinstance(api, BaseWeChatAPI) and getattr(api, "API_BASE_URL", None):
                api.API_BASE_URL = self.rebase(api.API_BASE_URL)

    def rebase(self, official_url: str) -> str:
        """The sandbox URL for an official ``https://api.weixin.qq.com/…`` URL."""
        if not official_url.startswith(OFFICIAL_API_BASE_URL):
            raise ValueError(f"not a WeChat API URL: {official_url}")
        return self.base_url + official_url[len(OFFICIAL_API_BASE_URL):]

    def api_url(self, path: str) -> str:
        """Absolute URL of an API wechatpy lacks (``wxa/business/getuserphonenumber`` …), for ``post``."""
        return self.base_url + path.lstrip("/")

    def fetch_access_token(self) -> dict[str, Any]:
        if self.token_endpoint == STABLE_TOKEN_ENDPOINT:
            body = {"grant_type": "client_credential", "appid": self.appid, "secret": self.secret,
                    "force_refresh": False}
            response = self._http.post(self.api_url("cgi-bin/stable_token"), json=body, timeout=self.timeout)
        else:
            params = {"grant_type": "client_credential", "appid": self.appid, "secret": self.secret}
            response = self._http.get(self.api_url("cgi-bin/token"), params=params, timeout=self.timeout)
        response.raise_for_status()
        result = self._handle_result(response)  # raises WeChatClientException on an errcode
        if not isinstance(result, dict):
            raise WeChatClientException(None, "token response is not JSON", client=self, response=response)
        expires_in = int(result.get("expires_in", 7200))
        self.session.set(self.access_token_key, result["access_token"], expires_in)
        self.expires_at = int(time.time()) + expires_in
        return result


def sandbox_wechat_client(
    base_url: str,
    appid: str,
    secret: str,
    *,
    timeout: float = 5.0,
    token_endpoint: str = STABLE_TOKEN_ENDPOINT,
) -> SandboxWeChatClient:
    """A real wechatpy client talking to the WeChat sandbox at ``base_url`` (see the class)."""
    return SandboxWeChatClient(
        appid, secret, base_url=base_url, timeout=timeout, token_endpoint=token_endpoint
    )


@contextmanager
def serve(wsgi_app: Callable[..., Any]) -> Iterator[str]:
    """Serve a WSGI app on a free loopback port in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
    # A short poll interval: shutdown() waits for the loop to notice, 0.5 s per server by default.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


@dataclass
class ReceivedPush:
    query: dict[str, str]
    body: bytes
    content_type: str | None


@dataclass
class FakeBackend:
    """The backend's side: ``GET /media/<name>`` serves files, ``POST /wechat/push`` records pushes."""

    url: str = ""
    media: dict[str, bytes] = field(default_factory=dict)
    pushes: list[ReceivedPush] = field(default_factory=list)
    # Statuses answered to the next pushes (then 200): a failing backend, for retries.
    push_statuses: deque[int] = field(default_factory=deque)
    condition: threading.Condition = field(default_factory=threading.Condition)

    @property
    def push_url(self) -> str:
        return self.url + "/wechat/push"

    def media_url(self, name: str) -> str:
        return f"{self.url}/media/{name}"

    def wait_for_pushes(self, count: int, timeout: float = 5.0) -> list[ReceivedPush]:
        with self.condition:
            if not self.condition.wait_for(lambda: len(self.pushes) >= count, timeout):
                raise AssertionError(f"expected {count} pushes, got {len(self.pushes)}")
            return list(self.pushes)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        if request.method == "GET" and request.path.startswith("/media/"):
            content = self.media.get(request.path.removeprefix("/media/"))
            found = content is not None
            response = Response(content, mimetype="image/png") if found else Response(status=404)
        elif request.method == "POST" and request.path == "/wechat/push":
            with self.condition:
                status = self.push_statuses.popleft() if self.push_statuses else 200
                self.pushes.append(ReceivedPush(dict(request.args), request.get_data(), request.content_type))
                self.condition.notify_all()
            response = Response("success" if status == 200 else "error", status=status, mimetype="text/plain")
        else:
            response = Response(status=404)
        return response(environ, start_response)


@dataclass
class RunningSandbox:
    """A sandbox served on a loopback port, with helpers for its developer API."""

    url: str
    state: SandboxState

    def dev(self, path: str, payload: dict[str, Any] | None = None, *, method: str | None = None,
            expected_status: int | None = None) -> dict[str, Any]:
        """Call ``/sandbox/api/<path>`` (POST when there is a payload) and return its JSON."""
        verb = method or ("POST" if payload is not None else "GET")
        response = requests.request(verb, f"{self.url}/sandbox/api/{path}", json=payload, timeout=5)
        if expected_status is not None:
            assert response.status_code == expected_status, response.text
        else:
            assert response.status_code < 300, response.text
        return response.json()

    def login_code(self, user: str, appid: str = MAIN_APPID) -> str:
        return self.dev("login-codes", {"user": user, "appid": appid})["code"]

    def advance_clock(self, seconds: float) -> None:
        self.dev("clock", {"seconds": seconds})

    def wait_for_media_check(self, trace_id: str, timeout: float = 5.0) -> dict[str, Any]:
        """The media-check record once its push is settled (delivered, failed or no push URL)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            checks = self.dev(f"media-checks?trace_id={trace_id}")["media_checks"]
            if checks and checks[0]["status"] != "pending":
                return checks[0]
            time.sleep(0.02)
        raise AssertionError(f"media check {trace_id} still pending after {timeout} s")


@pytest.fixture
def fake_backend() -> Iterator[FakeBackend]:
    backend = FakeBackend()
    with serve(backend) as url:
        backend.url = url
        yield backend


@pytest.fixture
def sandbox_settings(fake_backend: FakeBackend) -> SandboxSettings:
    """Two apps (the default one pushing to the fake backend), and background work without waiting."""
    return SandboxSettings(
        apps=(
            SandboxApp(push_url=fake_backend.push_url),
            SandboxApp(appid=OTHER_APPID, secret=OTHER_SECRET, original_id="gh_0123456789ab",
                       unionid_enabled=True),
        ),
        media_check_delay=0,
        push_retry_delays=(0.05, 0.05),
        push_timeout=2,
        download_timeout=2,
    )


@pytest.fixture
def sandbox(sandbox_settings: SandboxSettings, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningSandbox]:
    monkeypatch.delenv("MIAOHUA_ENV", raising=False)
    monkeypatch.delenv("FLASK_ENV", raising=False)
    sandbox_app = create_sandbox_app(sandbox_settings)
    with serve(sandbox_app) as url:
        yield RunningSandbox(url=url, state=sandbox_app.extensions["wechat_sandbox"])


@pytest.fixture
def make_client(sandbox: RunningSandbox) -> Callable[..., SandboxWeChatClient]:
    """Factory of wechatpy clients for the running sandbox (default app, stable_token, 5 s timeout)."""

    def make(appid: str = MAIN_APPID, secret: str = MAIN_SECRET, **options: Any) -> SandboxWeChatClient:
        return sandbox_wechat_client(sandbox.url, appid, secret, **options)

    return make


@pytest.fixture
def client(make_client: Callable[..., SandboxWeChatClient]) -> SandboxWeChatClient:
    return make_client()


# -- WeChat Pay API v3 ---------------------------------------------------------------------------------
# The pay tests use the real ``wechatpayv3`` client against the sandbox's /v3/ API, and a receiver that
# plays the backend's notify_url.  Keys are generated once per session (RSA is slow) in a temp dir.

PAY_NOTIFY_PATH = "/wechatpay/notify"


@dataclass
class ReceivedNotification:
    headers: dict[str, str]
    body: bytes
    received_at: float


@dataclass
class PayReceiver:
    """The backend's notify_url: records each POST (raw body, headers) and answers the queued statuses.

    ``statuses`` are answered first (then ``default_status``); ``delays`` are slept before answering the
    first requests (to exceed the sandbox's notify timeout); ``verifier(headers, body) -> bool``, when set,
    makes it answer 401 to notifications that do not verify, as a backend must.
    """

    url: str = ""
    notifications: list[ReceivedNotification] = field(default_factory=list)
    statuses: deque[int] = field(default_factory=deque)
    default_status: int = 204
    delays: deque[float] = field(default_factory=deque)
    verifier: Callable[[Any, bytes], bool] | None = None
    condition: threading.Condition = field(default_factory=threading.Condition)

    @property
    def notify_url(self) -> str:
        return self.url + PAY_NOTIFY_PATH

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedNotification]:
        with self.condition:
            if not self.condition.wait_for(lambda: len(self.notifications) >= count, timeout):
                raise AssertionError(f"expected {count} notifications, got {len(self.notifications)}")
            return list(self.notifications)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        if request.method != "POST" or request.path != PAY_NOTIFY_PATH:
            return Response(status=404)(environ, start_response)
        body = request.get_data()
        with self.condition:
            status = self.statuses.popleft() if self.statuses else self.default_status
            delay = self.delays.popleft() if self.delays else 0.0
            self.notifications.append(ReceivedNotification(dict(request.headers), body, time.time()))
            self.condition.notify_all()
        if self.verifier is not None and not self.verifier(request.headers, body):
            status = 401
        time.sleep(delay)
        if status in (200, 204):
            response = Response(status=status)
        else:
            response = Response('{"code":"FAIL","message":"失败"}', status=status, mimetype="application/json")
        return response(environ, start_response)


@pytest.fixture(scope="session")
def pay_keys_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A keys directory generated once for the session (merchant, public key, platform certificate)."""
    from devkit.wechat_sandbox.pay import dev_credentials

    directory = tmp_path_factory.mktemp("wechatpay") / "keys"
    dev_credentials(directory)
    return str(directory)


@pytest.fixture(scope="session")
def pay_credentials(pay_keys_dir: str) -> dict[str, Any]:
    from devkit.wechat_sandbox.pay import dev_credentials

    return dev_credentials(pay_keys_dir)


@pytest.fixture
def pay_receiver() -> Iterator[PayReceiver]:
    receiver = PayReceiver()
    with serve(receiver) as url:
        receiver.url = url
        yield receiver


@pytest.fixture
def pay_settings(pay_keys_dir: str, pay_receiver: PayReceiver) -> Any:
    """Fast payments: refunds settle in 50 ms, notification retries in milliseconds (×0.001)."""
    from devkit.wechat_sandbox.pay import PaySettings

    return PaySettings(keys_dir=pay_keys_dir, notify_url=pay_receiver.notify_url, refund_delay=0.05,
                       notify_time_scale=0.001, notify_timeout=1.0)


@pytest.fixture
def pay_sandbox_app(pay_settings: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.delenv("MIAOHUA_ENV", raising=False)
    monkeypatch.delenv("FLASK_ENV", raising=False)
    return create_sandbox_app(SandboxSettings(pay=pay_settings))


@pytest.fixture
def pay_sandbox(pay_sandbox_app: Any) -> Iterator[RunningSandbox]:
    """A sandbox with WeChat Pay (default app, users alice and bob) on a loopback port."""
    with serve(pay_sandbox_app) as url:
        yield RunningSandbox(url=url, state=pay_sandbox_app.extensions["wechat_sandbox"])


@pytest.fixture
def pay_state(pay_sandbox_app: Any) -> Any:
    """The served sandbox's :class:`~devkit.wechat_sandbox.pay.state.PayState` (keys, records)."""
    return pay_sandbox_app.extensions["wechat_sandbox_pay"]


def sandbox_wechatpay(gateway: str, credentials: dict[str, Any], *, mode: str = "public_key", **options: Any) -> Any:
    """A real ``wechatpayv3.WeChatPay`` talking to the sandbox: the way the backend builds it in development.

    Public-key mode needs no network in the constructor; certificate mode is given ``cert_dir`` (the
    platform certificate written by ``dev_credentials``) so that the constructor loads it from disk instead
    of downloading it from the official gateway.  Then the private ``_core._gate_way`` is moved.
    """
    from wechatpayv3 import WeChatPay, WeChatPayType

    arguments: dict[str, Any] = {
        "wechatpay_type": WeChatPayType.MINIPROG,
        "mchid": credentials["mchid"],
        "private_key": credentials["merchant_private_key"],
        "cert_serial_no": credentials["merchant_cert_serial_no"],
        "appid": credentials["appid"],
        "apiv3_key": credentials["apiv3_key"],
        "timeout": (5, 10),
    }
    if mode == "public_key":
        arguments.update(public_key=credentials["wechatpay_public_key"],
                         public_key_id=credentials["wechatpay_public_key_id"])
    else:
        arguments["cert_dir"] = credentials["platform_cert_dir"]
    arguments.update(options)
    wxpay = WeChatPay(**arguments)
    wxpay._core._gate_way = gateway.rstrip("/")
    return wxpay


@pytest.fixture
def make_wxpay(pay_sandbox: RunningSandbox, pay_credentials: dict[str, Any],
               pay_receiver: PayReceiver) -> Callable[..., Any]:
    def make(mode: str = "public_key", **options: Any) -> Any:
        options.setdefault("notify_url", pay_receiver.notify_url)
        return sandbox_wechatpay(pay_sandbox.url, pay_credentials, mode=mode, **options)

    return make


@pytest.fixture
def wxpay(make_wxpay: Callable[..., Any]) -> Any:
    return make_wxpay()


@pytest.fixture
def alice_openid(pay_sandbox: RunningSandbox, pay_credentials: dict[str, Any]) -> str:
    return pay_sandbox.state.openid_for(pay_credentials["appid"], "alice")


def open_notification(received: ReceivedNotification, credentials: dict[str, Any]) -> tuple[dict, dict]:
    """Verify and decrypt a notification the way a backend must; returns (envelope, decrypted resource).

    Signature over the *raw* body with the WeChat Pay public key (``PUB_KEY_ID_…`` serial) or the platform
    certificate (its serial), timestamp within 5 minutes, then AES-256-GCM with the APIv3 key.
    Raises ``InvalidSignature`` / ``InvalidTag`` / AssertionError.
    """
    import base64
    import json

    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.hashes import SHA256
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    headers = {name.lower(): value for name, value in received.headers.items()}
    serial = headers["wechatpay-serial"]
    if serial == credentials["wechatpay_public_key_id"]:
        key = load_pem_public_key(credentials["wechatpay_public_key"].encode())
    else:
        assert serial == credentials["platform_certificate_serial_no"], serial
        key = x509.load_pem_x509_certificate(credentials["platform_certificate"].encode()).public_key()
    assert headers["wechatpay-signature-type"] == "WECHATPAY2-SHA256-RSA2048"
    message = f"{headers['wechatpay-timestamp']}\n{headers['wechatpay-nonce']}\n{received.body.decode()}\n"
    key.verify(base64.b64decode(headers["wechatpay-signature"]), message.encode(), PKCS1v15(), SHA256())
    assert abs(time.time() - int(headers["wechatpay-timestamp"])) <= 300
    envelope = json.loads(received.body)
    resource = envelope["resource"]
    plaintext = AESGCM(credentials["apiv3_key"].encode()).decrypt(
        resource["nonce"].encode(), base64.b64decode(resource["ciphertext"]), resource["associated_data"].encode())
    return envelope, json.loads(plaintext)
