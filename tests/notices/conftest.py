"""Fixtures for notices: staff (tests/admin), users alice (WeChat + phone), bob (WeChat only), carol (phone)."""

from __future__ import annotations

import pytest

from tests.accounts.helpers import Phone
from tests.admin.conftest import anonymous, staff  # noqa: F401 - staff clients
from tests.privacy.conftest import run_default_queue  # noqa: F401 - runs the RQ default queue in-process
from tests.uploads.conftest import dbx, live_server, sample_jpeg, uploader  # noqa: F401 - shared fixtures

TEMPLATE = "notice-template"


def user_id(phone: Phone) -> str:
    return phone.get("/api/v1/me").get_json()["data"]["id"]


@pytest.fixture
def people(client, wechat_sandbox, uploader) -> dict[str, Phone]:
    bob = Phone(client, wechat_sandbox, user="bob", device_id="device-bob-1")
    bob.login()
    bob.accept()
    wechat_sandbox.set_user("carol", phone="13933334444")
    carol = Phone(client, wechat_sandbox, user="carol", device_id="device-carol-1")
    carol.login()
    carol.bind_phone()
    carol.accept()
    return {"alice": uploader, "bob": bob, "carol": carol}


def grant(sandbox, user: str, count: int = 1) -> str:
    return sandbox.dev("subscriptions", {"user": user, "template_id": TEMPLATE, "count": count})["openid"]


def subscribe_messages(sandbox) -> list[dict]:
    return [m for m in sandbox.dev("subscribe-messages", method="GET")["messages"] if m["template_id"] == TEMPLATE]


def sms_texts(client, phone: str) -> list[str]:
    return [m["text"] for m in client.get(f"/api/v1/dev/sms/{phone}").get_json()["data"]["messages"]
            if m["code"] is None]
