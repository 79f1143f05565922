"""Per-user upload limits through the API: uploads per period, and live photos no job has claimed (429)."""

import pytest
from sqlalchemy import select

from app.uploads.models import Upload
from tests.accounts.helpers import Phone
from tests.uploads.conftest import post_photo


def adult_uploader(client, sandbox, name: str, number: str) -> Phone:
    """Another logged-in adult with a phone and face-processing consent (the ``uploader`` fixture is alice)."""
    phone = Phone(client, sandbox, name, f"device-{name}")
    sandbox.set_user(name, phone=number)
    phone.login()
    phone.bind_phone()
    phone.accept("face_processing")
    assert phone.call("POST", "/api/v1/me/age", json={"adult_confirmed": True}).status_code == 200
    return phone


@pytest.fixture
def setting(app):
    """Change app settings for one test, restored afterwards."""
    saved = {}

    def change(**values):
        for name, value in values.items():
            saved.setdefault(name, app.config[name])
            app.config[name] = value

    yield change
    app.config.update(saved)


def assert_rate_limited(response, low: int, high: int) -> dict:
    assert response.status_code == 429, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "rate_limited"
    assert low <= error["details"]["retry_after"] <= high
    assert response.headers["Retry-After"] == str(error["details"]["retry_after"])
    return error


def test_uploads_per_minute_are_limited_per_user(uploader, sample_jpeg, client, wechat_sandbox, setting, dbx):
    setting(RATE_LIMIT_UPLOADS_PER_USER="2/minute", UPLOAD_MAX_UNCLAIMED_PER_USER=50)
    assert [post_photo(uploader, sample_jpeg).status_code for _ in range(2)] == [201, 201]
    error = assert_rate_limited(post_photo(uploader, sample_jpeg), 1, 60)
    assert error["message"] == "上传照片过于频繁，请稍等片刻。"  # zh-CN unless the client asks for English
    assert dbx.count(Upload) == 2  # nothing stored for the refused one
    bob = adult_uploader(client, wechat_sandbox, "bob", "13900001111")
    assert post_photo(bob, sample_jpeg).status_code == 201  # bob has his own budget


def test_refused_photos_count_against_the_rate_too(uploader, setting):
    """Each attempt costs the server the decoding: a flood of broken files is limited like good ones."""
    setting(RATE_LIMIT_UPLOADS_PER_USER="2/minute")
    assert [post_photo(uploader, b"not an image").status_code for _ in range(2)] == [422, 422]
    assert_rate_limited(post_photo(uploader, b"not an image"), 1, 60)


def test_live_unclaimed_uploads_are_capped_until_used_or_deleted(uploader, sample_jpeg, setting, app, dbx):
    setting(UPLOAD_MAX_UNCLAIMED_PER_USER=2)
    ids = [post_photo(uploader, sample_jpeg).get_json()["data"]["id"] for _ in range(2)]
    error = assert_rate_limited(post_photo(uploader, sample_jpeg), 1, app.config["UPLOAD_UNCLAIMED_TTL_S"])
    # until the oldest photo is swept: about the unclaimed TTL from now
    assert error["details"]["retry_after"] >= app.config["UPLOAD_UNCLAIMED_TTL_S"] - 60
    assert error["details"]["max_unclaimed"] == 2
    assert dbx.count(Upload) == 2
    assert uploader.call("DELETE", f"/api/v1/uploads/{ids[0]}").status_code == 204
    assert post_photo(uploader, sample_jpeg).status_code == 201  # a deleted one no longer counts
    assert_rate_limited(post_photo(uploader, sample_jpeg), 1, app.config["UPLOAD_UNCLAIMED_TTL_S"])
    live = dbx.run(lambda s: s.scalars(select(Upload.public_id).where(Upload.deleted_at.is_(None))).all())
    assert len(live) == 2 and ids[0] not in live
