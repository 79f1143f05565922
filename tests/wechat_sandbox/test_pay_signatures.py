"""Request signatures checked by the sandbox, answers signed by it and verified by wechatpayv3, and the
certificate mode (pre-seeded cert_dir, /v3/certificates download, rotation, switch-over)."""

from __future__ import annotations

import base64
import json
import shutil
import time
import uuid

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from wechatpayv3.utils import rsa_sign

from devkit.wechat_sandbox.pay.keys import private_pem, public_pem

from .conftest import sandbox_wechatpay


@pytest.fixture(scope="module")
def stranger_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def raw_call(base_url: str, credentials: dict, method: str, path: str, body: str = "", *, sign_body: str | None = None,
             timestamp: int | None = None, mchid: str | None = None, serial_no: str | None = None,
             private_key=None) -> requests.Response:
    """A v3 call signed by hand, so each part of the Authorization header can be wrong on purpose."""
    key = private_key or serialization.load_pem_private_key(credentials["merchant_private_key"].encode(), None)
    stamp, nonce = str(timestamp or int(time.time())), uuid.uuid4().hex.upper()
    message = f"{method}\n{path}\n{stamp}\n{nonce}\n{body if sign_body is None else sign_body}\n"
    authorization = (f'WECHATPAY2-SHA256-RSA2048 mchid="{mchid or credentials["mchid"]}",nonce_str="{nonce}",'
                     f'signature="{rsa_sign(key, message)}",timestamp="{stamp}",'
                     f'serial_no="{serial_no or credentials["merchant_cert_serial_no"]}"')
    headers = {"Authorization": authorization, "Accept": "application/json", "Content-Type": "application/json"}
    return requests.request(method, base_url + path, data=body.encode() or None, headers=headers, timeout=5)


QUERY = "/v3/pay/transactions/out-trade-no/ORDER-S1?mchid=1900000109"


def test_a_correct_hand_made_signature_passes(pay_sandbox, pay_credentials):
    answer = raw_call(pay_sandbox.url, pay_credentials, "GET", QUERY)

    assert answer.status_code == 404 and answer.json()["code"] == "ORDER_NOT_EXIST"  # authenticated, order unknown


@pytest.mark.parametrize(
    ("wrong", "issue"),
    [
        ({"sign_body": '{"total":1}'}, "sign not match"),
        ({"timestamp_offset": -301}, "timestamp"),  # offsets: applied when the test runs, not when collected
        ({"timestamp_offset": 400}, "timestamp"),
        ({"serial_no": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"}, "商户证书序列号有误"),
        ({"mchid": "1900000999"}, "mchid"),
        ({"private_key": "stranger"}, "sign not match"),
    ],
)
def test_bad_request_signatures_are_refused(pay_sandbox, pay_credentials, stranger_key, wrong, issue):
    if wrong.get("private_key") == "stranger":
        wrong = {"private_key": stranger_key}
    if "timestamp_offset" in wrong:
        wrong = {"timestamp": int(time.time()) + wrong["timestamp_offset"]}

    answer = raw_call(pay_sandbox.url, pay_credentials, "POST", "/v3/pay/transactions/out-trade-no/ORDER-S1/close",
                      '{"mchid":"1900000109"}', **wrong)

    assert answer.status_code == 401
    assert answer.json()["code"] == "SIGN_ERROR" and answer.json()["message"] == "签名错误，请检查后再试"
    assert issue in answer.json()["detail"]["detail"]["issue"]


def test_sign_error_shows_the_message_the_sandbox_verified(pay_sandbox, pay_credentials):
    answer = raw_call(pay_sandbox.url, pay_credentials, "POST", "/v3/pay/transactions/out-trade-no/ORDER-S1/close",
                      '{"mchid":"1900000109"}', sign_body='{"mchid": "1900000109"}')

    information = answer.json()["detail"]["sign_information"]
    assert information["method"] == "POST" and information["url"].endswith("/ORDER-S1/close")
    assert information["truncated_sign_message"].endswith('\n{"mchid":"1900000109"}\n')


@pytest.mark.parametrize("authorization", [None, "Bearer abc", 'WECHATPAY2-SHA256-RSA2048 mchid="1900000109"'])
def test_missing_or_malformed_authorization(pay_sandbox, authorization):
    headers = {"Authorization": authorization} if authorization else {}

    answer = requests.get(pay_sandbox.url + QUERY, headers=headers, timeout=5)

    assert answer.status_code == 401 and answer.json()["code"] == "SIGN_ERROR"


def test_wechatpayv3_with_a_wrong_key_or_serial(make_wxpay, stranger_key):
    wrong_key = make_wxpay(private_key=private_pem(stranger_key))
    wrong_serial = make_wxpay(cert_serial_no="5157F09EFDC096DE15EBE81A47057A7232F1B8E1")

    for client in (wrong_key, wrong_serial):
        code, text = client.query(out_trade_no="ORDER-S1")
        assert code == 401 and json.loads(text)["code"] == "SIGN_ERROR"


def test_every_answer_is_signed_errors_and_204_included(wxpay, pay_sandbox, pay_credentials, alice_openid):
    wxpay.pay(description="画", out_trade_no="ORDER-S2", amount={"total": 1}, payer={"openid": alice_openid})
    answers = [
        raw_call(pay_sandbox.url, pay_credentials, "GET", QUERY),
        raw_call(pay_sandbox.url, pay_credentials, "POST", "/v3/pay/transactions/out-trade-no/ORDER-S2/close",
                 '{"mchid":"1900000109"}'),
        requests.get(pay_sandbox.url + QUERY, timeout=5),
    ]

    assert [answer.status_code for answer in answers] == [404, 204, 401]
    for answer in answers:
        assert answer.headers["Wechatpay-Serial"] == pay_credentials["wechatpay_public_key_id"]
        assert wxpay._core._verify_signature(answer.headers, answer.text), answer.status_code


@pytest.fixture
def placed(wxpay, alice_openid) -> str:
    """An unpaid order ORDER-S0: querying it answers 200, the only answers wechatpayv3 verifies."""
    assert wxpay.pay(description="画", out_trade_no="ORDER-S0", amount={"total": 1},
                     payer={"openid": alice_openid})[0] == 200
    return "ORDER-S0"


def test_the_client_rejects_answers_signed_by_someone_else(make_wxpay, placed, stranger_key):
    impostor_trusting = make_wxpay(public_key=public_pem(stranger_key.public_key()))

    with pytest.raises(Exception, match="failed to verify the signature"):
        impostor_trusting.query(out_trade_no=placed)
    # wechatpayv3 verifies 2xx answers only: an error answer is returned unverified.
    assert impostor_trusting.query(out_trade_no="ORDER-S3")[0] == 404


def test_wechatpayv3_signs_the_unencoded_path(wxpay, alice_openid):
    """out_trade_no may contain '|', which requests sends as %7C while wechatpayv3 signed '|'."""
    assert wxpay.pay(description="画", out_trade_no="ORDER|S4", amount={"total": 1},
                     payer={"openid": alice_openid})[0] == 200

    code, text = wxpay.query(out_trade_no="ORDER|S4")

    assert code == 401 and "%7C" in json.loads(text)["detail"]["sign_information"]["url"]


@pytest.fixture
def cert_dir(tmp_path, pay_credentials) -> str:
    """A copy of the platform certificate directory (wechatpayv3 writes downloaded certificates into it)."""
    return str(shutil.copytree(pay_credentials["platform_cert_dir"], tmp_path / "certs"))


def test_certificate_mode_with_a_pre_seeded_cert_dir(make_wxpay, pay_sandbox, pay_credentials, cert_dir, placed):
    pay_sandbox.dev("pay/signing", {"mode": "certificate"})
    client = make_wxpay(mode="certificate", cert_dir=cert_dir)

    code, text = client.query(out_trade_no=placed)

    assert code == 200 and json.loads(text)["trade_state"] == "NOTPAY"  # verified with the platform certificate
    assert [f"{c.serial_number:X}" for c in client._core._certificates] == [
        pay_credentials["platform_certificate_serial_no"]]


def test_certificates_download_is_encrypted_under_the_apiv3_key(wxpay, pay_sandbox, pay_credentials):
    code, text = wxpay._core.request("/v3/certificates")
    (entry,) = json.loads(text)["data"]
    encrypted = entry["encrypt_certificate"]
    pem = AESGCM(pay_credentials["apiv3_key"].encode()).decrypt(
        encrypted["nonce"].encode(), base64.b64decode(encrypted["ciphertext"]), b"certificate")

    assert code == 200 and encrypted["algorithm"] == "AEAD_AES_256_GCM"
    assert encrypted["associated_data"] == "certificate" and len(encrypted["nonce"]) == 12
    assert f"{x509.load_pem_x509_certificate(pem).serial_number:X}" == entry["serial_no"]
    assert entry["effective_time"].endswith("+08:00") and entry["expire_time"] > entry["effective_time"]


def test_rotation_makes_the_client_download_the_new_certificate(make_wxpay, pay_sandbox, cert_dir, placed):
    pay_sandbox.dev("pay/signing", {"mode": "certificate"})
    client = make_wxpay(mode="certificate", cert_dir=cert_dir)
    new_serial = pay_sandbox.dev("pay/platform-certificates", {})["serial_no"]

    assert client.query(out_trade_no=placed)[0] == 200  # signed with the new certificate: downloaded, verified

    serials = [entry["serial_no"] for entry in pay_sandbox.dev("pay/merchant")["platform_certificates"]]
    assert serials[-1] == new_serial and len(serials) == 2
    assert sorted(f"{c.serial_number:X}" for c in client._core._certificates) == sorted(serials)
    with open(f"{cert_dir}/{new_serial}.pem", encoding="utf-8") as written:  # wechatpayv3 saved it to cert_dir
        assert "BEGIN CERTIFICATE" in written.read()


def test_switch_over_public_key_client_copes_certificate_client_crashes(make_wxpay, pay_sandbox, cert_dir, placed):
    pay_sandbox.dev("pay/signing", {"mode": "both"})
    public_key_client = make_wxpay()
    certificate_client = make_wxpay(mode="certificate", cert_dir=cert_dir)

    # Alternating serials: PUB_KEY_ID_… then the platform certificate's (downloaded on first sight).
    assert [public_key_client.query(out_trade_no=placed)[0] for _ in range(4)] == [200] * 4
    assert len(public_key_client._core._certificates) == 1
    # wechatpayv3 in certificate mode parses every serial as hex: PUB_KEY_ID_… raises ValueError.
    with pytest.raises(ValueError, match="invalid literal for int"):
        for _ in range(2):
            certificate_client.query(out_trade_no=placed)


def test_a_failed_certificate_refresh_empties_the_clients_certificates(make_wxpay, pay_sandbox, cert_dir, placed):
    """wechatpayv3 clears its certificate list before downloading and keeps it empty when that fails."""
    pay_sandbox.dev("pay/signing", {"mode": "certificate"})
    client = make_wxpay(mode="certificate", cert_dir=cert_dir)
    pay_sandbox.dev("pay/faults", {"path": "/v3/certificates", "code": "SYSTEM_ERROR"})

    client._core._update_certificates()

    assert client._core._certificates == []
    assert client.query(out_trade_no=placed)[0] == 200  # the next answer triggers a (now working) download
    assert len(client._core._certificates) == 1


def test_certificate_mode_constructor_downloads_from_the_official_gateway(monkeypatch, pay_credentials, tmp_path):
    requested: list[str] = []

    def refuse(url, **_):
        requested.append(url)
        raise requests.ConnectionError("no network in tests")

    monkeypatch.setattr("wechatpayv3.core.requests.get", refuse)

    with pytest.raises(requests.ConnectionError):
        sandbox_wechatpay("http://127.0.0.1:9", pay_credentials, mode="certificate", cert_dir=str(tmp_path))
    assert requested == ["https://api.mch.weixin.qq.com/v3/certificates"]
