"""The S3-compatible backend, against a local S3 server (moto) started by the test."""

import pytest

from app.core.storage import ObjectMissing, S3ObjectStore
from tests.conftest import free_port


@pytest.fixture(scope="module")
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def store(s3_endpoint):
    s3 = S3ObjectStore("miaohua-test", endpoint_url=s3_endpoint, region="us-east-1", access_key="test",
                       secret_key="test")
    s3.client.create_bucket(Bucket="miaohua-test")
    return s3


def test_put_get_delete(store):
    store.put("portrait_upload/ab/abc", b"ciphertext")
    assert store.exists("portrait_upload/ab/abc")
    assert store.get("portrait_upload/ab/abc") == b"ciphertext"
    store.delete("portrait_upload/ab/abc")
    assert not store.exists("portrait_upload/ab/abc")
    with pytest.raises(ObjectMissing):
        store.get("portrait_upload/ab/abc")


@pytest.mark.parametrize("bad", ["../etc/passwd", "/abs", "UPPER", "a/../../b"])
def test_keys_are_checked(store, bad):
    with pytest.raises(ValueError):
        store.put(bad, b"x")


def test_uploads_go_to_s3_encrypted(app, s3_endpoint, wechat_sandbox, store):
    from tests.accounts.helpers import Phone
    from tests.conftest import make_app
    from tests.uploads import images
    from tests.uploads.conftest import post_photo

    app = make_app(STORAGE_BACKEND="s3", S3_BUCKET="miaohua-test", S3_ENDPOINT_URL=s3_endpoint,
                   S3_REGION="us-east-1", S3_ACCESS_KEY_ID="test", S3_SECRET_ACCESS_KEY="test",
                   WECHAT_API_BASE_URL=wechat_sandbox.base_url)
    phone = Phone(app.test_client(), wechat_sandbox, "dora", "device-dora")
    wechat_sandbox.set_user("dora", phone="13877778888")
    phone.login()
    phone.bind_phone()
    phone.accept("face_processing")
    phone.call("POST", "/api/v1/me/age", json={"adult_confirmed": True})
    upload_id = post_photo(phone, images.encode(images.portrait())).get_json()["data"]["id"]
    keys = [item["Key"] for item in store.client.list_objects_v2(Bucket="miaohua-test").get("Contents", [])]
    assert len(keys) == 1 and keys[0].startswith("portrait_upload/")
    assert not store.get(keys[0]).startswith(b"\xff\xd8")
    assert phone.call("DELETE", f"/api/v1/uploads/{upload_id}").status_code == 204
    assert store.client.list_objects_v2(Bucket="miaohua-test").get("KeyCount") == 0
