"""The same request answers in Chinese by default and in English when the client asks (Accept-Language);
the machine-readable ``code`` never changes."""

from __future__ import annotations

import io

import pytest

from tests.uploads.conftest import sample_jpeg, uploader  # noqa: F401 - shared fixtures

ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}


def _error(response):
    return response.status_code, response.get_json()["error"]


@pytest.mark.parametrize(("headers", "message", "language"), [
    ({}, "请先登录。", "zh-CN"),
    ({"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}, "请先登录。", "zh-CN"),
    ({"Accept-Language": "fr-FR"}, "请先登录。", "zh-CN"),  # a language we do not speak: the default
    (ENGLISH, "Log in to continue.", "en"),
    ({"Accept-Language": "de;q=0.5, en;q=0.8"}, "Log in to continue.", "en"),
])
def test_an_error_in_the_clients_language_with_a_stable_code(client, headers, message, language):
    response = client.get("/api/v1/me", headers=headers)
    status, error = _error(response)
    assert (status, error["code"], error["message"]) == (401, "authentication_required", message)
    assert response.headers["Content-Language"] == language
    assert "Accept-Language" in response.headers.get("Vary", "")


def test_werkzeug_errors_are_translated_too(client):
    status, error = _error(client.get("/api/v1/no-such-thing"))
    assert (status, error["code"], error["message"]) == (404, "not_found", "未找到。")
    status, error = _error(client.get("/api/v1/no-such-thing", headers=ENGLISH))
    assert (status, error["code"], error["message"]) == (404, "not_found", "Not found.")


def test_validation_messages_per_field(client):
    zh = client.post("/api/v1/auth/wechat", json={"code": ""}).get_json()["error"]
    en = client.post("/api/v1/auth/wechat", json={"code": ""}, headers=ENGLISH).get_json()["error"]
    assert zh["code"] == en["code"] == "validation_error"
    assert (zh["message"], en["message"]) == ("部分字段填写有误。", "Some fields are invalid.")
    assert [f["field"] for f in zh["details"]["fields"]] == [f["field"] for f in en["details"]["fields"]]
    assert zh["details"]["fields"][0]["message"].startswith("至少需要")
    assert en["details"]["fields"][0]["message"].startswith("Must be at least")
    missing = client.post("/api/v1/auth/wechat", json={}).get_json()["error"]["details"]["fields"][0]
    assert (missing["type"], missing["message"]) == ("missing", "此项为必填项。")


def test_a_raised_message_with_parameters_and_the_user_facing_labels(uploader, client):  # noqa: F811
    zh = uploader.call("POST", "/api/v1/jobs", json={"style": "anime", "uploads": ["a", "b"]})
    en = uploader.client.post("/api/v1/jobs", json={"style": "anime", "uploads": ["a", "b"]},
                              headers={**uploader.headers(), **ENGLISH})
    assert _error(zh)[1]["code"] == _error(en)[1]["code"] == "wrong_source_count"
    assert (_error(zh)[1]["message"], _error(en)[1]["message"]) == ("该风格需要 1–1 张照片。",
                                                                     "This style takes 1–1 photo(s).")
    styles = {s["id"]: s for s in client.get("/api/v1/styles").get_json()["data"]["styles"]}
    assert (styles["watercolor"]["name"], styles["watercolor"]["name_en"]) == ("水彩", "Watercolor")
    english = {s["id"]: s for s in client.get("/api/v1/styles", headers=ENGLISH).get_json()["data"]["styles"]}
    assert english["watercolor"]["name"] == "Watercolor"
    products = {p["id"]: p["name"] for p in client.get("/api/v1/products").get_json()["data"]["products"]}
    assert products["hd_result"] == "高清原图下载（单张）"
    data = uploader.get("/api/v1/me/data").get_json()["data"]
    profile = next(c for c in data["categories"] if c["name"] == "profile")
    assert (profile["label"], profile["retention"]) == ("个人资料", "保存至您注销账户")
    data_en = uploader.client.get("/api/v1/me/data", headers={**uploader.headers(), **ENGLISH}).get_json()["data"]
    profile_en = next(c for c in data_en["categories"] if c["name"] == "profile")
    assert (profile_en["label"], profile_en["retention"]) == ("Profile", "Until you cancel the account")


def test_an_invalid_photo_is_explained_in_chinese(uploader):  # noqa: F811
    response = uploader.call("POST", "/api/v1/uploads", data={"file": (io.BytesIO(b"not an image"), "x.jpg"),
                                                              "declaration": "own_face"},
                             content_type="multipart/form-data")
    status, error = _error(response)
    assert status == 422
    assert error["code"] == "invalid_image" and error["details"]["reason"] == "unsupported_format"
    assert error["message"] == "请上传 JPG、PNG 或 WebP 格式的照片。"
