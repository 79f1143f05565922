"""Deletion requests are rate limited per user and day, like exports (issue #15): 429 rate_limited + retry_after."""

from app.privacy.models import DeletionRequest
from tests.accounts.helpers import Phone
from tests.uploads.test_limits import assert_rate_limited


def ask(phone, categories=("operation_logs",)):
    return phone.call("POST", "/api/v1/me/deletion-requests", json={"categories": list(categories)})


def test_deletion_requests_per_day_are_limited_per_user(uploader, app, client, wechat_sandbox, dbx):
    allowed = int(app.config["RATE_LIMIT_DELETION_REQUESTS"].split("/")[0])  # the shipped default: 5/day
    assert app.config["RATE_LIMIT_DELETION_REQUESTS"] == f"{allowed}/day"
    assert [ask(uploader).status_code for _ in range(allowed)] == [201] * allowed
    refused = ask(uploader, ["devices"])
    error = assert_rate_limited(refused, 86400 - 120, 86400)  # the first one ages out in a day
    assert error["message"] == "您今天提交的删除申请较多，请稍后再试。"  # zh-CN unless the client asks for English
    assert dbx.count(DeletionRequest) == allowed  # nothing recorded, nothing deleted for the refused one
    assert len(uploader.get("/api/v1/me/deletion-requests").get_json()["data"]["requests"]) == allowed

    bob = Phone(client, wechat_sandbox, "bob", "device-bob")
    bob.login()
    assert ask(bob).status_code == 201  # another user has their own budget


def test_a_malformed_request_costs_nothing(uploader, app):
    app.config["RATE_LIMIT_DELETION_REQUESTS"], saved = "1/day", app.config["RATE_LIMIT_DELETION_REQUESTS"]
    try:
        for _ in range(3):
            assert ask(uploader, ["everything"]).status_code == 422
        assert ask(uploader).status_code == 201
        assert_rate_limited(ask(uploader), 86400 - 120, 86400)
    finally:
        app.config["RATE_LIMIT_DELETION_REQUESTS"] = saved
