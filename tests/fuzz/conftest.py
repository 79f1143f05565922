import pytest

from tests.accounts.helpers import Db, Phone
from tests.uploads.conftest import uploader  # noqa: F401 - shared fixtures


@pytest.fixture
def member(client, wechat_sandbox) -> Phone:
    """A logged-in adult with a phone, the current policy accepted and face-processing consent given."""
    phone = Phone(client, wechat_sandbox)
    wechat_sandbox.set_user("alice", phone="13811112222")
    phone.login()
    phone.bind_phone()
    phone.accept("face_processing")
    assert phone.call("POST", "/api/v1/me/age", json={"adult_confirmed": True}).status_code == 200
    return phone


@pytest.fixture
def dbx(app) -> Db:
    return Db(app)
