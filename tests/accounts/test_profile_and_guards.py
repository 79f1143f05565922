from sqlalchemy import select

from app.accounts.models import RiskFlag
from tests.accounts.helpers import Phone


def test_profile_fields_are_optional_and_correctable(phone):
    phone.login()
    assert phone.get("/api/v1/me").get_json()["data"]["nickname"] is None
    updated = phone.call("PATCH", "/api/v1/me", json={"nickname": "小画家 🎨", "avatar_url": "https://x.cn/a.png"})
    assert updated.status_code == 200
    assert updated.get_json()["data"]["nickname"] == "小画家 🎨"
    cleared = phone.call("PATCH", "/api/v1/me", json={"avatar_url": None}).get_json()["data"]
    assert cleared["avatar_url"] is None and cleared["nickname"] == "小画家 🎨"


def test_bad_profile_input_is_refused_per_field(phone):
    phone.login()
    response = phone.call("PATCH", "/api/v1/me", json={"nickname": "a\u200bb", "avatar_url": "http://x/a.png"})
    assert response.status_code == 422
    assert {f["field"] for f in response.get_json()["error"]["details"]["fields"]} == {"nickname", "avatar_url"}
    too_long = phone.call("PATCH", "/api/v1/me", json={"nickname": "长" * 33})
    assert too_long.status_code == 422


def test_a_risky_nickname_is_rejected_by_the_content_check(phone, wechat_sandbox):
    phone.login()
    wechat_sandbox.dev("risky-texts", {"term": "违禁词"})
    response = phone.call("PATCH", "/api/v1/me", json={"nickname": "我是违禁词"})
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "content_rejected"
    assert phone.get("/api/v1/me").get_json()["data"]["nickname"] is None


def test_phone_guard_refuses_users_without_a_phone(app, phone, wechat_sandbox):
    from flask import Blueprint

    from app.accounts.auth import phone_required
    from tests.conftest import make_app

    guarded = Blueprint("guarded", __name__)

    @guarded.post("/api/v1/test/generate")
    @phone_required
    def generate():
        return {"data": "ok"}

    other = make_app(WECHAT_API_BASE_URL=app.config["WECHAT_API_BASE_URL"])
    other.register_blueprint(guarded)
    device = Phone(other.test_client(), wechat_sandbox)
    assert device.call("POST", "/api/v1/test/generate").status_code == 401
    device.login()
    device.accept()
    refused = device.call("POST", "/api/v1/test/generate")
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "phone_binding_required"
    device.bind_phone()
    assert device.call("POST", "/api/v1/test/generate").status_code == 200


def test_many_accounts_on_one_device_are_flagged(client, wechat_sandbox, dbx, app):
    threshold = app.config["DEVICE_ACCOUNTS_FLAG_THRESHOLD"]
    for i in range(threshold - 1):
        Phone(client, wechat_sandbox, f"user{i}", "shared-device").login()
    assert dbx.count(RiskFlag) == 0
    Phone(client, wechat_sandbox, "one-more", "shared-device").login()
    flag = dbx.one(select(RiskFlag))
    assert flag.kind == "many_accounts_on_device" and flag.account_count == threshold
    assert "shared-device" not in flag.subject_hash


def test_login_is_rate_limited_per_device(client, wechat_sandbox, app):
    limit = int(app.config["RATE_LIMIT_LOGIN_PER_DEVICE"].split("/")[0])
    device = Phone(client, wechat_sandbox, "alice", "hammering-device")
    for _ in range(limit):
        device.login()
    error = device.login(expect=429)["error"]
    assert error["code"] == "rate_limited" and error["details"]["retry_after"] > 0
    Phone(client, wechat_sandbox, "alice", "another-device").login()  # other devices unaffected
