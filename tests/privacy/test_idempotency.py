"""Idempotency-Key on POST /me/exports and POST /me/deletion-requests."""

from __future__ import annotations

from app.privacy.export_models import DataExport
from app.privacy.models import DeletionRequest


def test_a_retried_export_request_is_one_export(uploader, dbx):
    headers = {**uploader.headers(), "Idempotency-Key": "export-1"}
    first = uploader.client.post("/api/v1/me/exports", headers=headers)
    again = uploader.client.post("/api/v1/me/exports", headers=headers)
    assert first.status_code == again.status_code == 202 and again.get_json() == first.get_json()
    assert dbx.count(DataExport) == 1
    other = uploader.client.post("/api/v1/me/exports", headers={**uploader.headers(), "Idempotency-Key": "export-2"})
    assert other.status_code == 429  # a new key is a new request: the one-a-day quota answers


def test_a_retried_deletion_request_is_one_request(uploader, dbx):
    headers = {**uploader.headers(), "Idempotency-Key": "delete-1"}
    body = {"categories": ["operation_logs"]}
    first = uploader.client.post("/api/v1/me/deletion-requests", json=body, headers=headers)
    again = uploader.client.post("/api/v1/me/deletion-requests", json=body, headers=headers)
    assert first.status_code == again.status_code == 201 and again.get_json() == first.get_json()
    assert dbx.count(DeletionRequest) == 1
