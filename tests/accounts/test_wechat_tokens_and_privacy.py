"""Access-token handling against the sandbox, and what never appears in logs or responses."""

import io
import json

from sqlalchemy import select

from app.accounts.models import WechatIdentity
from app.core.crypto import open_text
from app.core.logging import configure_logging


def test_expired_access_token_is_refreshed_once_mid_flight(phone, wechat_sandbox):
    phone.login()
    wechat_sandbox.set_user("alice", phone="13800000000")
    phone.bind_phone()  # fetches and caches a token
    wechat_sandbox.advance_clock(7201)  # WeChat expires it; our cache still holds it
    wechat_sandbox.set_user("alice", phone="13800000009")
    assert phone.bind_phone()["data"]["user"]["phone_masked"] == "138****0009"


def test_a_token_that_stays_invalid_gives_a_clear_error_without_looping(phone, wechat_sandbox):
    phone.login()
    wechat_sandbox.fault("/wxa/business/getuserphonenumber", "errcode", count=10, errcode=40001)
    error = phone.bind_phone(expect=503)["error"]
    assert error["code"] == "wechat_unavailable" and error["details"]["errcode"] == 40001
    remaining = wechat_sandbox.dev("faults", method="GET")["faults"][0]["remaining"]
    assert remaining == 8  # exactly one retry after one refresh


def test_no_token_session_key_code_or_phone_in_logs_or_responses(app, phone, wechat_sandbox, client, dbx):
    stream = io.StringIO()
    configure_logging("DEBUG", "json", stream=stream)
    try:
        wechat_sandbox.set_user("alice", phone="13912345678")
        login_code = wechat_sandbox.login_code("alice")
        login = phone.login(login_code)
        phone_code = wechat_sandbox.phone_code("alice")
        bound = phone.call("POST", "/api/v1/me/phone/wechat", json={"code": phone_code}).get_json()
        me = phone.get("/api/v1/me").get_json()
        sessions = phone.get("/api/v1/me/sessions").get_json()
        client.post("/api/v1/auth/sms/send", json={"phone": "13712345678"})
        sms = client.get("/api/v1/dev/sms/13712345678").get_json()["data"]["messages"][0]["code"]
        client.post("/api/v1/auth/sms/login", json={"phone": "13712345678", "code": sms})
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {phone.token}x"})
    finally:
        configure_logging(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])
    logs = stream.getvalue()
    assert logs.strip(), "the flow must have logged something"
    [json.loads(line) for line in logs.splitlines()]  # every line is JSON
    identity = dbx.one(select(WechatIdentity))
    with app.app_context():
        session_key = open_text(identity.session_key_ciphertext, "wechat.session_key")
        openid = open_text(identity.openid_ciphertext, "wechat.openid")
    secrets = {"token": phone.token, "session_key": session_key, "openid": openid, "login code": login_code,
               "phone code": phone_code, "phone": "13912345678", "sms phone": "13712345678", "sms code": sms}
    for name, value in secrets.items():
        assert value not in logs, f"{name} leaked into the logs"
    responses = json.dumps([me, sessions, bound])
    for name in ("session_key", "openid", "phone", "login code", "phone code"):
        assert secrets[name] not in responses, f"{name} leaked into a response"
    assert "session_key" not in json.dumps(login)
