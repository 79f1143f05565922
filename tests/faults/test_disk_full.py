"""The disk fills up while a photo (or a generated result) is being written.

Simulated inside the local object store only: its file handle writes part of the data, then fails
with ``ENOSPC`` (or ``EIO``), as a real full disk does half-way through a write.

What the user sees: ``507 storage_full`` (``503 storage_unavailable`` for other I/O errors), "nothing
was saved". Nothing is half-done: no row, no partial or temporary file. A job whose result cannot be
stored fails with that code, keeps no half result set, and its source photo is deleted all the same.
"""

from __future__ import annotations

import errno
import os

import pytest
from rq import Queue
from sqlalchemy import select

from app.core import storage
from app.core.jobs import redis_connection
from app.core.objects import StoredObject
from app.generation.models import GenerationJob, GenerationResult
from app.uploads.models import Upload
from tests.faults.conftest import post_photo, stored_files
from workers.base import AppSimpleWorker

pytestmark = pytest.mark.faults


class _FailingFile:
    """A file that accepts the first half of a write, then fails as a full disk does."""

    def __init__(self, handle, error: int) -> None:
        self.handle, self.error = handle, error

    def write(self, data: bytes) -> int:
        self.handle.write(data[: len(data) // 2])
        self.handle.flush()
        raise OSError(self.error, os.strerror(self.error))

    def __getattr__(self, name: str):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.handle.close()


class _OsWithAFullDisk:
    """``os`` as the object store sees it, but every file it opens for writing hits a full disk."""

    def __init__(self, error: int) -> None:
        self.error = error

    def fdopen(self, fd: int, mode: str = "r", *args, **kwargs):
        return _FailingFile(os.fdopen(fd, mode, *args, **kwargs), self.error)

    def __getattr__(self, name: str):
        return getattr(os, name)


@pytest.fixture
def full_disk(monkeypatch):
    def fill(error: int = errno.ENOSPC) -> None:
        monkeypatch.setattr(storage, "os", _OsWithAFullDisk(error))

    yield fill
    monkeypatch.undo()


@pytest.mark.parametrize(("error", "status", "code"), [(errno.ENOSPC, 507, "storage_full"),
                                                        (errno.EIO, 503, "storage_unavailable")])
def test_upload_on_a_full_disk_leaves_no_row_and_no_file(uploader, sample_jpeg, app, dbx, full_disk, monkeypatch,
                                                         error, status, code):
    files_before = stored_files(app)
    full_disk(error)
    response = post_photo(uploader, sample_jpeg)
    assert response.status_code == status, response.get_json()
    assert response.get_json()["error"]["code"] == code
    assert dbx.count(Upload) == 0 and dbx.count(StoredObject) == 0
    assert stored_files(app) == files_before  # no partial ciphertext, no temporary file

    monkeypatch.undo()  # space freed
    response = post_photo(uploader, sample_jpeg)
    assert response.status_code == 201, response.get_json()
    assert len(stored_files(app) - files_before) == 1


def test_a_job_whose_result_cannot_be_stored_fails_cleanly_and_still_deletes_its_source(
        uploader, sample_jpeg, app, dbx, full_disk):
    app.config["CONTENT_CHECK_ENABLED"] = False
    try:
        upload_id = post_photo(uploader, sample_jpeg).get_json()["data"]["id"]
        job = uploader.call("POST", "/api/v1/jobs", json={"style": "pop_art", "uploads": [upload_id]})
        assert job.status_code == 202, job.get_json()
    finally:
        app.config["CONTENT_CHECK_ENABLED"] = True
    files_before = stored_files(app)

    full_disk()
    conn = redis_connection(app)
    AppSimpleWorker([Queue("generation", connection=conn)], connection=conn, flask_app=app).work(burst=True)

    done = uploader.get(f"/api/v1/jobs/{job.get_json()['data']['id']}").get_json()["data"]
    assert done["status"] == "failed" and done["error_code"] == "storage_full" and done["results"] == []
    assert dbx.count(GenerationResult) == 0 and dbx.one(select(GenerationJob)).sources_deleted_at is not None
    source = dbx.one(select(Upload))
    assert source.deleted_at is not None  # no source photo outlives its job, however it ends
    assert stored_files(app) == files_before - {path for path in files_before if source.object_id in path.name}
    assert not any(source.object_id in path.name for path in stored_files(app))
