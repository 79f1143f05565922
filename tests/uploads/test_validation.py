"""Every way a photo is refused, with nothing stored; and what is stored is stripped and encrypted."""

import io
import time

import pytest
from PIL import Image
from sqlalchemy import select

from app.core import objects
from app.core.objects import StoredObject
from app.core.storage import object_store
from app.uploads.models import Upload
from tests.uploads import images
from tests.uploads.conftest import post_photo


def assert_rejected(response, reason):
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "invalid_image" and error["details"]["reason"] == reason
    assert error["message"]  # a sentence the mini-program can show


@pytest.mark.parametrize(("make", "reason"), [
    (lambda: images.encode(images.portrait(), "GIF"), "unsupported_format"),
    (lambda: b"%PDF-1.7 not an image at all" * 100, "unsupported_format"),
    (lambda: images.encode(images.portrait())[:5000], "corrupt"),
    (images.animated_webp, "animated"),
    (images.tiny, "too_small"),
    (images.no_face, "no_face"),
    (images.two_faces, "multiple_faces"),
    (images.small_face, "face_too_small"),
    (images.blurry, "too_blurry"),
    (images.dark, "too_dark"),
])
def test_each_rejection_reason_and_nothing_is_stored(uploader, dbx, make, reason):
    assert_rejected(post_photo(uploader, make()), reason)
    assert dbx.count(Upload) == 0 and dbx.count(StoredObject) == 0


def test_the_format_is_sniffed_not_trusted_from_the_name(uploader):
    png = images.encode(images.portrait(), "PNG")
    response = post_photo(uploader, png, filename="photo.jpg", content_type="image/jpeg")
    assert response.status_code == 201
    gif_named_png = images.encode(images.portrait(), "GIF")
    assert_rejected(post_photo(uploader, gif_named_png, filename="a.png", content_type="image/png"),
                    "unsupported_format")


def test_webp_is_accepted(uploader):
    assert post_photo(uploader, images.encode(images.portrait(), "WEBP")).status_code == 201


def test_a_decompression_bomb_is_refused_fast_without_decoding(uploader, dbx):
    bomb = images.png_bomb()
    assert len(bomb) < 3_000_000  # 20000×20000 pixels in about a megabyte
    started = time.perf_counter()
    response = post_photo(uploader, bomb, filename="bomb.png", content_type="image/png")
    elapsed = time.perf_counter() - started
    assert_rejected(response, "too_many_pixels")
    assert elapsed < 5  # decoding 1.2 GB of pixels would take far longer (and the memory)
    assert dbx.count(StoredObject) == 0


def test_too_many_bytes_is_413(uploader, app):
    limit = app.config["UPLOAD_MAX_BYTES"]
    app.config["UPLOAD_MAX_BYTES"] = 10_000
    try:
        response = post_photo(uploader, images.encode(images.portrait()))
    finally:
        app.config["UPLOAD_MAX_BYTES"] = limit
    assert response.status_code == 413 and response.get_json()["error"]["code"] == "upload_too_large"


def test_a_request_over_the_request_limit_is_the_same_413_upload_too_large(uploader, app, dbx, sample_jpeg):
    """Over UPLOAD_MAX_BYTES or over MAX_CONTENT_LENGTH (refused before the body is read): one code, one limit."""
    limits = app.config["UPLOAD_MAX_BYTES"], app.config["MAX_CONTENT_LENGTH"]
    app.config["UPLOAD_MAX_BYTES"], app.config["MAX_CONTENT_LENGTH"] = 10_000, 20_000
    try:
        file_over = post_photo(uploader, sample_jpeg[:15_000])  # the file over its limit, the request under
        request_over = post_photo(uploader, sample_jpeg + b"\0" * 25_000)  # the whole request over its limit
        json_over = uploader.call("PATCH", "/api/v1/me", json={"nickname": "x" * 30_000})
    finally:
        app.config["UPLOAD_MAX_BYTES"], app.config["MAX_CONTENT_LENGTH"] = limits
    for response in (file_over, request_over):
        assert response.status_code == 413
        error = response.get_json()["error"]
        assert (error["code"], error["details"]["max_bytes"]) == ("upload_too_large", 10_000)
    # a JSON body is no photo: the generic code stays for it
    assert json_over.status_code == 413 and json_over.get_json()["error"]["code"] == "payload_too_large"
    assert dbx.count(Upload) == 0


def test_declaration_and_file_are_required(uploader, sample_jpeg):
    missing = post_photo(uploader, sample_jpeg, declaration="")
    assert missing.status_code == 422 and missing.get_json()["error"]["details"]["fields"][0]["field"] == "declaration"
    no_file = uploader.call("POST", "/api/v1/uploads", content_type="multipart/form-data",
                            data={"declaration": "own_face"})
    assert no_file.status_code == 400 and no_file.get_json()["error"]["code"] == "file_required"
    not_multipart = uploader.call("POST", "/api/v1/uploads", json={"file": "x"})
    assert not_multipart.status_code == 415


def stored_plaintext(app, dbx, upload_id):
    upload = dbx.one(select(Upload).where(Upload.public_id == upload_id))
    obj = dbx.one(select(StoredObject).where(StoredObject.id == upload.object_id))
    with app.app_context():
        ciphertext = object_store().get(obj.storage_key)
        plaintext = objects.read(obj)
    return obj, ciphertext, plaintext


def test_gps_and_all_metadata_are_gone_from_what_is_stored(uploader, app, dbx):
    original = images.jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825)  # the source really has GPS
    upload_id = post_photo(uploader, original).get_json()["data"]["id"]
    _, _, plaintext = stored_plaintext(app, dbx, upload_id)
    stored = Image.open(io.BytesIO(plaintext))
    exif = stored.getexif()
    assert len(exif) == 0 and not exif.get_ifd(0x8825)
    assert "icc_profile" not in stored.info and "xmp" not in stored.info
    assert b"PhoneMaker" not in plaintext and b"GPS" not in plaintext


def test_exif_orientation_is_applied_before_stripping(uploader, app, dbx):
    upload = post_photo(uploader, images.rotated_by_exif()).get_json()["data"]
    assert (upload["width"], upload["height"]) == (400, 512)  # upright: stored sideways as 512×400


def test_stored_bytes_are_ciphertext_and_decrypt_to_the_normalised_image(uploader, app, dbx, sample_jpeg):
    upload_id = post_photo(uploader, sample_jpeg).get_json()["data"]["id"]
    obj, ciphertext, plaintext = stored_plaintext(app, dbx, upload_id)
    assert not ciphertext.startswith((b"\xff\xd8", b"\x89PNG", b"RIFF"))
    assert b"JFIF" not in ciphertext and b"Exif" not in ciphertext
    assert plaintext.startswith(b"\xff\xd8")  # a JPEG after decryption
    assert Image.open(io.BytesIO(plaintext)).size == (512, 512)
    assert obj.wrapped_key and obj.kek_id == app.config["ENCRYPTION_KEY_ID"]
