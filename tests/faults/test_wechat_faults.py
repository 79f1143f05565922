"""WeChat misbehaves (the sandbox's fault injection): it times out, answers garbage, or answers 5xx.

For each call the product makes on a user's behalf — phone binding, the nickname's text check, the
photo's content check — what the user sees and that nothing is half-done.
Login (``jscode2session``) under the same faults: tests/accounts/test_wechat_login.py; WeChat Pay:
test_wechat_pay_faults.py.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.accounts.models import User
from app.uploads import services as uploads
from app.uploads.models import Upload
from tests.accounts.helpers import Phone
from tests.faults.conftest import post_photo

pytestmark = pytest.mark.faults

# WECHAT_READ_TIMEOUT is 2 s in the tests' app: a 3 s delay is a timeout.
FAULTS = [("delay", {"seconds": 3}), ("garbage", {}), ("http500", {})]
FAULT_IDS = [mode for mode, _ in FAULTS]


def error_code(response) -> str:
    assert response.is_json, response.get_data(as_text=True)
    return response.get_json()["error"]["code"]


@pytest.mark.parametrize(("mode", "options"), FAULTS, ids=FAULT_IDS)
def test_phone_binding_when_wechat_fails_binds_nothing(client, wechat_sandbox, dbx, mode, options):
    phone = Phone(client, wechat_sandbox)
    wechat_sandbox.set_user("alice", phone="13811112222")
    phone.login()
    wechat_sandbox.fault("/wxa/business/getuserphonenumber", mode, count=5, **options)
    assert phone.bind_phone(expect=503)["error"]["code"] == "wechat_unavailable"
    assert dbx.count(User, User.phone_hash.is_not(None)) == 0
    assert phone.get("/api/v1/me").get_json()["data"]["phone_bound"] is False

    wechat_sandbox.dev("faults", method="DELETE")  # WeChat is back
    assert phone.bind_phone()["data"]["user"]["phone_masked"] == "138****2222"


def test_access_token_endpoint_down_is_a_clean_503(client, wechat_sandbox, dbx):
    phone = Phone(client, wechat_sandbox)
    phone.login()
    wechat_sandbox.fault("/cgi-bin/stable_token", "http500", count=5)
    assert phone.bind_phone(expect=503)["error"]["code"] == "wechat_unavailable"
    assert dbx.count(User, User.phone_hash.is_not(None)) == 0


@pytest.mark.parametrize(("mode", "options"), FAULTS, ids=FAULT_IDS)
def test_nickname_check_when_wechat_fails_changes_nothing(client, wechat_sandbox, dbx, mode, options):
    phone = Phone(client, wechat_sandbox)
    phone.login()
    assert phone.call("PATCH", "/api/v1/me", json={"nickname": "小明"}).status_code == 200
    wechat_sandbox.fault("/wxa/msg_sec_check", mode, count=5, **options)
    response = phone.call("PATCH", "/api/v1/me", json={"nickname": "小红"})
    assert response.status_code == 503 and error_code(response) == "wechat_unavailable"
    assert dbx.one(select(User)).nickname == "小明"  # an unchecked nickname is never stored


@pytest.mark.parametrize(("mode", "options"), FAULTS, ids=FAULT_IDS)
def test_content_check_that_cannot_start_keeps_the_photo_pending_until_the_sweep_restarts_it(
        uploader, wechat_sandbox, sample_jpeg, app, dbx, mode, options):
    wechat_sandbox.fault("/wxa/media_check_async", mode, count=5, **options)
    response = post_photo(uploader, sample_jpeg)
    assert response.status_code == 201, response.get_json()  # the photo is kept, but cannot be used yet
    assert response.get_json()["data"]["status"] == "pending_review"
    assert dbx.one(select(Upload)).review_trace_id is None

    wechat_sandbox.dev("faults", method="DELETE")  # WeChat is back
    with app.app_context():
        assert uploads.sweep()["review_restarted"] == 1
    assert dbx.one(select(Upload)).review_trace_id is not None
    # WeChat never answering at all ends in the review-timeout policy (tests/uploads/test_lifecycle.py).
