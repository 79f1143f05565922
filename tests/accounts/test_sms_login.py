"""Phone + SMS code login: single-use, expiring, attempt-limited, rate-limited, stored hashed."""

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.accounts.models import SmsCode, User
from app.core.db import utcnow
from tests.accounts.conftest import sms_code

NUMBER = "13612345678"


def send(client, number=NUMBER, **extra):
    return client.post("/api/v1/auth/sms/send", json={"phone": number, **extra})


def login(client, code, number=NUMBER):
    return client.post("/api/v1/auth/sms/login", json={"phone": number, "code": code})


def test_sms_login_creates_an_account_with_the_phone_bound(client, dbx):
    sent = send(client)
    assert sent.status_code == 202 and sent.get_json()["data"]["expires_in"] == 300
    response = login(client, sms_code(client, NUMBER))
    assert response.status_code == 200
    data = response.get_json()["data"]
    assert data["new_user"] is True and data["needs_phone"] is False
    assert data["user"]["phone_masked"] == "136****5678"
    stored = dbx.one(select(SmsCode))
    assert stored.consumed_at is not None
    assert sms_code(client, NUMBER) not in stored.code_hash


def test_a_code_is_single_use(client):
    send(client)
    code = sms_code(client, NUMBER)
    assert login(client, code).status_code == 200
    again = login(client, code)
    assert again.status_code == 400 and again.get_json()["error"]["code"] == "sms_code_invalid"


def test_an_expired_code_is_refused(client, dbx):
    send(client)
    dbx.execute(update(SmsCode).values(expires_at=utcnow() - timedelta(seconds=1)))
    response = login(client, sms_code(client, NUMBER))
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "sms_code_expired"
    assert dbx.count(User) == 0


def test_too_many_wrong_guesses_kill_the_code(client, app):
    send(client)
    right = sms_code(client, NUMBER)
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    for _ in range(app.config["SMS_CODE_MAX_ATTEMPTS"]):
        assert login(client, wrong).get_json()["error"]["code"] == "sms_code_invalid"
    assert login(client, right).get_json()["error"]["code"] == "sms_code_invalid"


def test_a_new_code_replaces_the_previous_one(client, app):
    send(client)
    first = sms_code(client, NUMBER)
    with app.app_context():
        from app.core.jobs import redis_connection

        for key in redis_connection().scan_iter("ratelimit:LIMITER/sms:phone/*"):
            redis_connection().delete(key)
    send(client)
    second = sms_code(client, NUMBER)
    if first != second:
        assert login(client, first).status_code == 400
    assert login(client, second).status_code == 200


def test_sending_is_rate_limited_per_phone(client):
    assert send(client).status_code == 202
    limited = send(client)
    assert limited.status_code == 429
    assert limited.get_json()["error"]["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) > 0
    assert send(client, number="13612345679").status_code == 202  # another phone has its own budget


@pytest.mark.parametrize("bad", ["12345", "23812345678", "1381234567a", "+1 4155550100"])
def test_only_mainland_mobile_numbers_are_accepted(client, bad):
    response = send(client, number=bad)
    assert response.status_code == 422
    assert response.get_json()["error"]["details"]["fields"][0]["field"] == "phone"


def test_sms_login_can_be_disabled(wechat_sandbox):
    from tests.conftest import make_app

    app = make_app(SMS_PROVIDER="disabled", WECHAT_API_BASE_URL=wechat_sandbox.base_url)
    response = app.test_client().post("/api/v1/auth/sms/send", json={"phone": NUMBER})
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "sms_unavailable"
    assert app.test_client().get(f"/api/v1/dev/sms/{NUMBER}").status_code == 404  # no developer outbox
