"""Redis (the job queue and shared caches) stops during uploads and job creation.

What the user sees: ``503 queue_unavailable`` ("nothing was saved, try again shortly") before
anything is written; a request that got past the check while Redis was still up completes and is
finished by the sweeps once Redis is back. Nothing is half-done: no upload or stored-object row, no
file, no job, no claimed photo, no lost job; and the photo of a job is deleted when the job ends.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from rq import Queue
from sqlalchemy import select

from app.core import objects
from app.core.db import utcnow
from app.core.jobs import redis_connection
from app.core.objects import StoredObject
from app.generation import services as generation
from app.generation.models import GenerationJob
from app.uploads import services as uploads
from app.uploads.models import Upload
from tests.faults.conftest import adult_uploader, post_photo, stored_files
from workers.base import AppSimpleWorker

pytestmark = pytest.mark.faults


def run_generation_queue(flask_app) -> None:
    conn = redis_connection(flask_app)
    AppSimpleWorker([Queue("generation", connection=conn)], connection=conn, flask_app=flask_app).work(burst=True)


def assert_queue_unavailable(response) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.is_json
    assert response.get_json()["error"]["code"] == "queue_unavailable"


@pytest.fixture
def ready_uploads(redis_app):
    """Uploads are ready at once here (the content check while Redis is down has its own test)."""
    redis_app.config["CONTENT_CHECK_ENABLED"] = False
    yield
    redis_app.config["CONTENT_CHECK_ENABLED"] = True


def test_upload_while_redis_is_down_is_refused_before_anything_is_stored(redis_app, redis_server, wechat_sandbox,
                                                                         sample_jpeg, dbx):
    phone = adult_uploader(redis_app, wechat_sandbox)
    files_before = stored_files(redis_app)
    redis_server.stop()

    assert_queue_unavailable(post_photo(phone, sample_jpeg))
    assert dbx.count(Upload) == 0 and dbx.count(StoredObject) == 0
    assert stored_files(redis_app) == files_before
    readiness = phone.client.get("/readyz")
    assert readiness.status_code == 503
    assert readiness.get_json()["error"]["details"]["checks"]["redis"].startswith("unavailable")

    redis_server.start()  # recovery: nothing to do but try again
    response = post_photo(phone, sample_jpeg)
    assert response.status_code == 201, response.get_json()
    assert dbx.count(Upload) == 1 and len(stored_files(redis_app) - files_before) == 1
    assert phone.client.get("/readyz").status_code == 200


def test_redis_lost_after_the_photo_was_stored_keeps_it_pending_and_the_sweep_restarts_its_check(
        redis_app, redis_server, wechat_sandbox, sample_jpeg, dbx, monkeypatch):
    phone = adult_uploader(redis_app, wechat_sandbox)
    real_store = objects.store

    def store_then_lose_redis(*args, **kwargs):
        stored = real_store(*args, **kwargs)
        redis_server.stop()  # the content check needs WeChat's access token, shared through Redis
        return stored

    monkeypatch.setattr(objects, "store", store_then_lose_redis)
    response = post_photo(phone, sample_jpeg)
    monkeypatch.undo()
    assert response.status_code == 201, response.get_json()  # the user's photo is not lost
    upload = response.get_json()["data"]
    assert upload["status"] == "pending_review" and upload["delete_after"] is not None
    assert dbx.one(select(Upload)).review_trace_id is None

    redis_server.start()
    with redis_app.app_context():
        counts = uploads.sweep()
    assert counts["review_restarted"] == 1
    assert dbx.one(select(Upload)).review_trace_id is not None


def test_job_creation_while_redis_is_down_claims_nothing_and_works_when_it_returns(
        redis_app, redis_server, wechat_sandbox, sample_jpeg, dbx, ready_uploads):
    phone = adult_uploader(redis_app, wechat_sandbox)
    upload_id = post_photo(phone, sample_jpeg).get_json()["data"]["id"]
    redis_server.stop()

    assert_queue_unavailable(phone.call("POST", "/api/v1/jobs", json={"style": "pop_art", "uploads": [upload_id]}))
    assert dbx.count(GenerationJob) == 0
    upload = dbx.one(select(Upload))
    assert upload.claimed_by is None and upload.deleted_at is None  # still the user's, to retry with
    assert phone.get(f"/api/v1/uploads/{upload_id}").get_json()["data"]["delete_after"] is not None

    redis_server.start()
    job = phone.call("POST", "/api/v1/jobs", json={"style": "pop_art", "uploads": [upload_id]})
    assert job.status_code == 202, job.get_json()
    run_generation_queue(redis_app)
    done = phone.get(f"/api/v1/jobs/{job.get_json()['data']['id']}").get_json()["data"]
    assert done["status"] == "succeeded" and done["sources_deleted_at"] is not None
    source = dbx.one(select(Upload))
    assert source.deleted_at is not None  # no source photo outlives its job
    assert dbx.one(select(StoredObject).where(StoredObject.id == source.object_id)).wrapped_key is None
    with redis_app.app_context():
        assert not objects.object_store().exists(f"portrait_upload/{source.object_id[:2]}/{source.object_id}")


def test_redis_lost_between_the_check_and_the_enqueue_loses_no_job(redis_app, redis_server, wechat_sandbox,
                                                                   sample_jpeg, dbx, ready_uploads, monkeypatch):
    """The row commits with its RQ job id, the enqueue after the commit fails: the sweep enqueues it later."""
    phone = adult_uploader(redis_app, wechat_sandbox)
    upload_id = post_photo(phone, sample_jpeg).get_json()["data"]["id"]
    real_require_queue = generation.require_queue

    def check_then_lose_redis():
        real_require_queue()
        redis_server.stop()

    monkeypatch.setattr(generation, "require_queue", check_then_lose_redis)
    response = phone.call("POST", "/api/v1/jobs", json={"style": "pop_art", "uploads": [upload_id]})
    monkeypatch.undo()
    assert response.status_code == 202, response.get_json()  # the job exists: the user is told so
    job = response.get_json()["data"]
    assert job["status"] == "queued" and job["queue_position"] is None
    polled = phone.get(f"/api/v1/jobs/{job['id']}")  # polling keeps working while Redis is down
    assert polled.status_code == 200 and polled.get_json()["data"]["status"] == "queued"

    redis_server.start()  # a restarted Redis has an empty queue: the job never reached it
    later = utcnow() + timedelta(seconds=redis_app.config["GENERATION_HEARTBEAT_TTL_S"] + 1)
    with redis_app.app_context():
        assert generation.sweep(now=later)["requeued"] == 1
    run_generation_queue(redis_app)
    done = phone.get(f"/api/v1/jobs/{job['id']}").get_json()["data"]
    assert done["status"] == "succeeded" and len(done["results"]) == 1
    assert dbx.one(select(Upload)).deleted_at is not None
