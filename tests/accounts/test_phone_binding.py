"""Phone binding (real-name rule) and how WeChat and phone logins become one account."""

from sqlalchemy import select

from app.accounts.models import LoginSession, User, WechatIdentity
from app.accounts.phones import open_phone
from tests.accounts.conftest import sms_code
from tests.accounts.helpers import Phone


def test_binding_a_phone_masks_it_and_encrypts_it_at_rest(phone, wechat_sandbox, app, dbx):
    wechat_sandbox.set_user("alice", phone="13812341234")
    phone.login()
    data = phone.bind_phone()["data"]
    assert data["merged"] is False and data["token"] is None
    assert data["user"]["phone_bound"] is True
    assert data["user"]["phone_masked"] == "138****1234"
    user = dbx.one(select(User))
    assert b"13812341234" not in user.phone_ciphertext
    assert "13812341234" not in user.phone_hash
    with app.app_context():
        assert open_phone(user.phone_ciphertext) == "13812341234"
    me = phone.get("/api/v1/me").get_json()["data"]
    assert me["phone_masked"] == "138****1234" and "13812341234" not in str(me)


def test_phone_codes_are_single_use(phone, wechat_sandbox):
    phone.login()
    code = wechat_sandbox.phone_code("alice")
    assert phone.call("POST", "/api/v1/me/phone/wechat", json={"code": code}).status_code == 200
    again = phone.call("POST", "/api/v1/me/phone/wechat", json={"code": code})
    assert again.status_code == 400 and again.get_json()["error"]["code"] == "wechat_code_used"


def test_binding_needs_a_login(client):
    response = client.post("/api/v1/me/phone/wechat", json={"code": "x"})
    assert response.status_code == 401


def test_phone_already_bound_to_another_wechat_account_is_a_conflict(client, wechat_sandbox, dbx):
    wechat_sandbox.set_user("alice", phone="13900000001")
    wechat_sandbox.set_user("bob", phone="13900000001")  # bob's WeChat reports the same number
    alice = Phone(client, wechat_sandbox, "alice", "dev-a")
    alice.login()
    alice.bind_phone()
    bob = Phone(client, wechat_sandbox, "bob", "dev-b")
    bob.login()
    error = bob.bind_phone(expect=409)["error"]
    assert error["code"] == "phone_already_bound"
    assert dbx.count(User, User.phone_hash.is_not(None)) == 1
    assert bob.get("/api/v1/me").get_json()["data"]["phone_bound"] is False


def test_wechat_login_joins_the_account_an_sms_login_created(client, wechat_sandbox, dbx):
    number = "13700001111"
    client.post("/api/v1/auth/sms/send", json={"phone": number})
    sms_login = client.post("/api/v1/auth/sms/login", json={"phone": number, "code": sms_code(client, number)})
    sms_account = sms_login.get_json()["data"]["user"]["id"]

    wechat_sandbox.set_user("alice", phone=number)
    phone = Phone(client, wechat_sandbox, "alice", "dev-a")
    login = phone.login()["data"]
    assert login["user"]["id"] != sms_account  # a fresh WeChat-only account at first
    old_token = phone.token
    bound = phone.bind_phone()["data"]
    assert bound["merged"] is True and bound["user"]["id"] == sms_account
    assert bound["token"] and bound["token"] != old_token

    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {old_token}"}).status_code == 401
    phone.token = bound["token"]
    assert phone.get("/api/v1/me").get_json()["data"]["id"] == sms_account
    assert dbx.count(User) == 1  # the empty WeChat-only account is gone
    identity = dbx.one(select(WechatIdentity))
    assert dbx.one(select(User).where(User.id == identity.user_id)).public_id == sms_account
    # and the next WeChat login lands on the merged account directly
    assert phone.login()["data"]["user"]["id"] == sms_account
    assert dbx.count(LoginSession, LoginSession.revoked_at.is_(None)) >= 2


def test_phone_change_replaces_the_old_number(phone, wechat_sandbox):
    wechat_sandbox.set_user("alice", phone="13811112222")
    phone.login()
    phone.bind_phone()
    wechat_sandbox.set_user("alice", phone="13833334444")
    assert phone.bind_phone()["data"]["user"]["phone_masked"] == "138****4444"


def test_wechat_unavailable_during_binding_changes_nothing(phone, wechat_sandbox, dbx):
    phone.login()
    wechat_sandbox.fault("/wxa/business/getuserphonenumber", "http500")
    assert phone.bind_phone(expect=503)["error"]["code"] == "wechat_unavailable"
    assert dbx.count(User, User.phone_hash.is_not(None)) == 0
