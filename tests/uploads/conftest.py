import io

import pytest

from tests.accounts.helpers import Db, Phone
from tests.conftest import serve_in_thread
from tests.uploads import images


@pytest.fixture
def uploader(client, wechat_sandbox) -> Phone:
    """A logged-in adult with a phone, the policy accepted and face-processing consent given."""
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


@pytest.fixture(scope="session")
def live_server(app):
    """The app on a loopback port, so the WeChat sandbox can fetch media and push verdicts to it."""
    with serve_in_thread(app) as base_url:
        yield base_url


@pytest.fixture
def reviewed(app, live_server, wechat_sandbox):
    """Content checks go through the sandbox for real: media fetched from us, verdict pushed back."""
    previous = app.config["PUBLIC_BASE_URL"]
    app.config["PUBLIC_BASE_URL"] = live_server
    wechat_sandbox.dev(f"apps/{app.config['WECHAT_APPID']}/push-url", {"url": f"{live_server}/api/v1/wechat/push"})
    yield live_server
    app.config["PUBLIC_BASE_URL"] = previous


def post_photo(phone: Phone, data: bytes, declaration: str = "own_face", filename: str = "photo.jpg",
               content_type: str = "image/jpeg"):
    return phone.call("POST", "/api/v1/uploads", content_type="multipart/form-data",
                      data={"file": (io.BytesIO(data), filename, content_type), "declaration": declaration})


@pytest.fixture
def sample_jpeg() -> bytes:
    return images.encode(images.portrait())
