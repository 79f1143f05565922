"""Idempotency-Key on POST /uploads (multipart) and POST /jobs."""

from __future__ import annotations

import io

from app.generation.models import GenerationJob
from app.uploads.models import Upload
from tests.generation.conftest import upload_ids


def upload(phone, jpeg: bytes, key: str, declaration: str = "own_face"):
    # A retry builds a new multipart body (another boundary): the same fields and file are the same request.
    return phone.client.post("/api/v1/uploads", content_type="multipart/form-data",
                             data={"file": (io.BytesIO(jpeg), "photo.jpg", "image/jpeg"), "declaration": declaration},
                             headers={**phone.headers(), "Idempotency-Key": key})


def test_a_retried_upload_is_stored_once(uploader, sample_jpeg, dbx):
    first, again = upload(uploader, sample_jpeg, "u-1"), upload(uploader, sample_jpeg, "u-1")
    assert first.status_code == again.status_code == 201 and again.get_json() == first.get_json()
    assert dbx.count(Upload) == 1
    other = upload(uploader, sample_jpeg, "u-1", declaration="subject_consented")
    assert other.status_code == 422 and other.get_json()["error"]["code"] == "idempotency_key_reused"
    refused = upload(uploader, b"not an image", "u-2")
    assert refused.status_code == 422 and refused.get_json()["error"]["code"] == "invalid_image"
    assert upload(uploader, sample_jpeg, "u-2").status_code == 201  # nothing was kept for the refusal
    assert dbx.count(Upload) == 2


def test_a_retried_job_is_started_once(uploader, sample_jpeg, dbx):
    ids = upload_ids(uploader, sample_jpeg)
    headers = {**uploader.headers(), "Idempotency-Key": "job-1"}
    body = {"style": "pop_art", "uploads": ids}
    first = uploader.client.post("/api/v1/jobs", json=body, headers=headers)
    again = uploader.client.post("/api/v1/jobs", json=body, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.get_json()["data"]["id"] == first.get_json()["data"]["id"]
    assert dbx.count(GenerationJob) == 1
