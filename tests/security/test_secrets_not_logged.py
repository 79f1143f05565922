"""Secrets and personal data never reach the logs, even at DEBUG (policy §7).

Runs the flows that handle them — WeChat login, phone binding, SMS login, a nickname check, a
payment with its signed notification — with every logger at DEBUG into one stream (the app's own
handler, so what is checked is what would be written), then looks for each value in the output.
"""

from __future__ import annotations

import io

import pytest

from app.core.logging import configure_logging
from app.core.wechat import mini_program_client
from tests.accounts.helpers import Phone
from tests.orders.conftest import pay, pay_config, wait_for_order  # noqa: F401 - pay_config: autouse here
from tests.uploads.conftest import live_server  # noqa: F401 - pay_config needs it

PHONE = "13811112222"
SMS_PHONE = "13612345678"


@pytest.fixture
def log_output(app):
    stream = io.StringIO()
    configure_logging("DEBUG", "json", stream=stream)
    yield stream
    configure_logging(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])


def test_login_sms_profile_and_payment_flows_log_no_secret(app, client, wechat_sandbox, log_output):
    secrets: dict[str, str] = {}
    alice = Phone(client, wechat_sandbox)
    wechat_sandbox.set_user("alice", phone=PHONE)
    minted = wechat_sandbox.dev("login-codes", {"user": "alice"})
    secrets |= {"login code": minted["code"], "openid": minted["openid"]}
    secrets["bearer token"] = alice.login(code=minted["code"])["data"]["token"]
    phone_code = wechat_sandbox.phone_code("alice")
    secrets["phone code"] = phone_code
    bound = client.post("/api/v1/me/phone/wechat", json={"code": phone_code}, headers=alice.headers())
    assert bound.status_code == 200, bound.get_json()
    secrets["phone number"] = PHONE
    alice.accept()
    assert alice.call("PATCH", "/api/v1/me", json={"nickname": "小明"}).status_code == 200
    with app.app_context():
        wechat = mini_program_client(app)
        secrets["WeChat access token"] = wechat.session.get(wechat.access_token_key)

    assert client.post("/api/v1/auth/sms/send", json={"phone": SMS_PHONE}).status_code == 202
    sms_code = client.get(f"/api/v1/dev/sms/{SMS_PHONE}").get_json()["data"]["messages"][0]["code"]
    sms_login = client.post("/api/v1/auth/sms/login", json={"phone": SMS_PHONE, "code": sms_code})
    assert sms_login.status_code == 200, sms_login.get_json()
    secrets |= {"SMS code": sms_code, "SMS phone": SMS_PHONE, "SMS token": sms_login.get_json()["data"]["token"]}

    order = alice.call("POST", "/api/v1/orders", json={"product": "avatar_creation"})
    assert order.status_code == 201, order.get_json()
    pay(wechat_sandbox, order.get_json()["data"])
    wait_for_order(alice, order.get_json()["data"]["order"]["order_no"], "fulfilled")

    config = app.config
    secrets |= {name: config[name] for name in ("SECRET_KEY", "ENCRYPTION_KEY", "LOOKUP_HASH_KEY", "WECHAT_SECRET",
                                                "WECHAT_PUSH_AES_KEY", "WECHAT_PAY_APIV3_KEY")}
    secrets["merchant private key"] = config["WECHAT_PAY_PRIVATE_KEY"].splitlines()[1]
    output = log_output.getvalue()
    assert '"level": "DEBUG"' in output or '"level": "INFO"' in output  # the flows did log
    assert all(value for value in secrets.values())
    leaked = sorted(name for name, value in secrets.items() if value in output)
    assert leaked == [], f"found in the logs: {leaked}"
