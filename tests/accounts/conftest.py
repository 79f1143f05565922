import pytest

from tests.accounts.helpers import Db, Phone


@pytest.fixture
def phone(client, wechat_sandbox) -> Phone:
    return Phone(client, wechat_sandbox)


@pytest.fixture
def dbx(app) -> Db:
    return Db(app)


def sms_code(client, number: str) -> str:
    messages = client.get(f"/api/v1/dev/sms/{number}").get_json()["data"]["messages"]
    return messages[0]["code"]
