"""WeChat Pay setup: settings from the environment, dev_credentials and its keys directory, the dev API
and page, reset, and a sandbox without payments."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest
import requests
from wechatpayv3.utils import load_private_key, load_public_key

from devkit.wechat_sandbox import SandboxSettings, create_sandbox_app
from devkit.wechat_sandbox.pay import PaySettings, dev_credentials
from devkit.wechat_sandbox.pay.keys import PayKeysMismatch
from devkit.wechat_sandbox.pay.settings import DEFAULT_KEYS_DIR, WECHAT_RETRY_DELAYS
from devkit.wechat_sandbox.settings import SandboxConfigError

from .conftest import RunningSandbox, sandbox_wechatpay, serve

CREDENTIAL_KEYS = {
    "mchid", "appid", "merchant_private_key", "merchant_cert_serial_no", "merchant_certificate", "apiv3_key",
    "wechatpay_public_key", "wechatpay_public_key_id", "platform_certificate", "platform_certificate_serial_no",
    "platform_cert_dir", "keys_dir",
}


def test_pay_settings_from_environment():
    settings = SandboxSettings.from_env({
        "WECHAT_SANDBOX_PAY_KEYS_DIR": "/tmp/keys",
        "WECHAT_SANDBOX_PAY_MCHID": "1230000109",
        "WECHAT_SANDBOX_PAY_SIGNING": "both",
        "WECHAT_SANDBOX_PAY_NOTIFY_URL": "http://127.0.0.1:5000/api/pay/notify",
        "WECHAT_SANDBOX_PAY_NOTIFY_RETRY_DELAYS": "1, 2,3",
        "WECHAT_SANDBOX_PAY_NOTIFY_TIME_SCALE": "0.5",
        "WECHAT_SANDBOX_PAY_REFUND_DELAY": "-1",
        "WECHAT_SANDBOX_PAY_PREPAY_TTL": "60",
        "WECHAT_SANDBOX_PAY_HTTP_NOTIFY_HOSTS": "",
    }).pay

    assert (settings.keys_dir, settings.mchid, settings.signing) == ("/tmp/keys", "1230000109", "both")
    assert settings.notify_retry_delays == (1.0, 2.0, 3.0) and settings.retry_waits() == [0.0, 0.5, 1.0, 1.5]
    assert (settings.refund_delay, settings.prepay_ttl, settings.http_notify_hosts) == (-1.0, 60, ())


def test_pay_defaults():
    settings = SandboxSettings.from_env({}).pay

    assert settings.enabled and settings.keys_dir == str(DEFAULT_KEYS_DIR)
    assert DEFAULT_KEYS_DIR.parts[-2:] == ("instance", "wechat_sandbox_pay")
    assert settings.notify_retry_delays == WECHAT_RETRY_DELAYS and sum(WECHAT_RETRY_DELAYS) == 24 * 3600 + 4 * 60
    assert settings.signing == "public_key" and settings.notify_timeout == 5.0
    assert SandboxSettings().pay.keys_dir is None  # built directly (tests): keys in memory only


@pytest.mark.parametrize(
    "environment",
    [{"WECHAT_SANDBOX_PAY_SIGNING": "rsa"}, {"WECHAT_SANDBOX_PAY_MCHID": "merchant"},
     {"WECHAT_SANDBOX_PAY_APIV3_KEY": "short"}, {"WECHAT_SANDBOX_PAY_NOTIFY_RETRY_DELAYS": "soon"},
     {"WECHAT_SANDBOX_PAY_ENABLED": "maybe"}, {"WECHAT_SANDBOX_PAY_NOTIFY_URL": "ftp://x"}],
)
def test_unusable_pay_settings_are_refused(environment):
    with pytest.raises(SandboxConfigError):
        SandboxSettings.from_env(environment)


def test_dev_credentials_generates_once_atomically_and_privately(tmp_path, pay_credentials):
    directory = tmp_path / "keys"
    results: list[dict] = []
    threads = [threading.Thread(target=lambda: results.append(dev_credentials(directory))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    first, second = results
    assert first == second == dev_credentials(directory)  # two racing first calls: one generation
    assert set(first) == CREDENTIAL_KEYS and first["mchid"] == "1900000109"
    assert first["appid"] == "wx5a1d0b0c0ffee001" and len(first["apiv3_key"]) == 32
    assert first["wechatpay_public_key_id"].startswith("PUB_KEY_ID_01")
    assert len(first["merchant_cert_serial_no"]) == 40 and len(first["platform_certificate_serial_no"]) == 40
    assert first["merchant_private_key"].startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8, as wechatpayv3 needs
    assert load_private_key(first["merchant_private_key"]) and load_public_key(first["wechatpay_public_key"])
    assert os.listdir(first["platform_cert_dir"]) == [f"{first['platform_certificate_serial_no']}.pem"]
    for name in ("merchant.json", "apiclient_key.pem", "sandbox_pub_key_private.pem", "sandbox_platform_key.pem"):
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600, name
    assert not [name for name in os.listdir(directory) if name.endswith(".tmp")]
    assert first["merchant_private_key"] != pay_credentials["merchant_private_key"]


def test_keys_made_for_another_merchant_are_refused(pay_keys_dir, monkeypatch):
    monkeypatch.delenv("MIAOHUA_ENV", raising=False)
    monkeypatch.delenv("FLASK_ENV", raising=False)
    with pytest.raises(PayKeysMismatch, match="mchid"):
        dev_credentials(pay_keys_dir, mchid="1230000109")
    with pytest.raises(SandboxConfigError, match="1230000109"):
        create_sandbox_app(SandboxSettings(pay=PaySettings(keys_dir=pay_keys_dir, mchid="1230000109")))


def test_in_memory_keys_work_through_the_dev_api(monkeypatch):
    monkeypatch.delenv("MIAOHUA_ENV", raising=False)
    monkeypatch.delenv("FLASK_ENV", raising=False)
    sandbox_app = create_sandbox_app(SandboxSettings())
    with serve(sandbox_app) as url:
        credentials = requests.get(f"{url}/sandbox/api/pay/credentials", timeout=5).json()
        client = sandbox_wechatpay(url, credentials, notify_url="https://backend.example.com/pay/notify")
        openid = sandbox_app.extensions["wechat_sandbox"].openid_for(credentials["appid"], "bob")
        code, _ = client.pay(description="画", out_trade_no="ORDER-M1", amount={"total": 1}, payer={"openid": openid})

    assert credentials["keys_dir"] is None and credentials["platform_cert_dir"] is None
    assert code == 200


def test_merchant_page_and_reset(wxpay, alice_openid, pay_sandbox: RunningSandbox, pay_credentials):
    wxpay.pay(description="画", out_trade_no="ORDER-M2", amount={"total": 1}, payer={"openid": alice_openid})
    merchant = pay_sandbox.dev("pay/merchant")
    page = requests.get(f"{pay_sandbox.url}/sandbox/pay", timeout=5)
    home = requests.get(f"{pay_sandbox.url}/sandbox/", timeout=5)

    assert merchant["mchid"] == pay_credentials["mchid"] and merchant["signing"] == "public_key"
    assert merchant["keys_dir"] == str(Path(pay_credentials["keys_dir"]))
    assert pay_sandbox.dev("pay/credentials") == pay_credentials
    assert page.status_code == 200 and "ORDER-M2" in page.text and "src=" not in page.text
    assert 'href="pay"' in home.text
    assert pay_sandbox.dev("reset", {}) == {"reset": True}
    assert pay_sandbox.dev("pay/transactions") == {"transactions": []}
    assert pay_sandbox.dev("pay/merchant")["merchant_cert_serial_no"] == pay_credentials["merchant_cert_serial_no"]


def test_dev_api_errors(wxpay, alice_openid, pay_sandbox):
    wxpay.pay(description="画", out_trade_no="ORDER-M3", amount={"total": 1}, payer={"openid": alice_openid})

    assert pay_sandbox.dev("pay/pay", {"prepay_id": "wx-unknown"}, expected_status=404)["error"]
    assert pay_sandbox.dev("pay/pay", {"out_trade_no": "ORDER-M3", "result": "MAYBE"}, expected_status=400)["error"]
    assert pay_sandbox.dev("pay/signing", {"mode": "rsa"}, expected_status=400)["error"]
    assert pay_sandbox.dev("pay/faults", {"path": "/cgi-bin/token", "code": "SYSTEM_ERROR"},
                           expected_status=400)["error"]
    assert pay_sandbox.dev("pay/refunds/plan", {"status": "LOST"}, expected_status=400)["error"]
    assert pay_sandbox.dev("pay/refunds/NOPE/settle", {}, expected_status=404)["error"]
    assert pay_sandbox.dev("pay/notifications/nope/redeliver", {}, expected_status=404)["error"]
    assert pay_sandbox.dev("pay/transactions/NOPE-1/expire", {}, expected_status=404)["error"]


def test_a_sandbox_without_payments(monkeypatch):
    monkeypatch.delenv("MIAOHUA_ENV", raising=False)
    monkeypatch.delenv("FLASK_ENV", raising=False)
    test_client = create_sandbox_app(SandboxSettings(pay=PaySettings(enabled=False))).test_client()

    assert test_client.get("/v3/certificates").status_code == 404
    assert test_client.get("/sandbox/api/pay/merchant").status_code == 404
    assert test_client.post("/sandbox/api/reset").json == {"reset": True}


def test_wechatpayv3_needs_pkcs8_private_keys(pay_credentials):
    """Why dev_credentials writes ``BEGIN PRIVATE KEY``: wechatpayv3 cannot load ``BEGIN RSA PRIVATE KEY``."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(pay_credentials["merchant_private_key"].encode(), None)
    pkcs1 = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                              serialization.NoEncryption()).decode()

    with pytest.raises(Exception, match="failed to load private key"):
        load_private_key(pkcs1)


def test_keys_are_made_on_first_use_only(tmp_path, monkeypatch):
    """A sandbox that never takes a payment writes nothing (other test suites build it from_env)."""
    monkeypatch.delenv("MIAOHUA_ENV", raising=False)
    monkeypatch.delenv("FLASK_ENV", raising=False)
    directory = tmp_path / "keys"
    sandbox_app = create_sandbox_app(SandboxSettings.from_env({"WECHAT_SANDBOX_PAY_KEYS_DIR": str(directory)}))
    test_client = sandbox_app.test_client()

    assert test_client.post("/sandbox/api/reset").status_code == 200
    assert test_client.get("/sandbox/pay").status_code == 200
    assert not directory.exists()
    assert test_client.get("/sandbox/api/pay/merchant").json["keys_dir"] == str(directory.resolve())
    assert (directory / "merchant.json").exists()
