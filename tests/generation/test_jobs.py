"""Generation end to end: upload → job → real worker → encrypted results → sources deleted with receipts."""

import io
import time

import pytest
from PIL import Image
from sqlalchemy import select, update

from app.core.db import utcnow
from app.generation import services
from app.generation.models import GenerationJob
from app.privacy.models import DeletionReceipt, OperationLog
from app.uploads.models import Upload
from tests.accounts.helpers import Phone
from tests.generation.conftest import run_generation_queue, start_job, upload_ids
from workers.generators.base import GenerationError, register_generator


def job_state(phone, job_id):
    return phone.get(f"/api/v1/jobs/{job_id}").get_json()["data"]


def test_styles_catalogue(client):
    styles = client.get("/api/v1/styles").get_json()["data"]["styles"]
    kinds = [s["kind"] for s in styles]
    assert kinds.count("photo") >= 6 and kinds.count("id_photo") >= 3
    assert "avatar" in kinds and "video" in kinds
    avatar = next(s for s in styles if s["kind"] == "avatar")
    assert (avatar["min_photos"], avatar["max_photos"]) == (3, 10)


def test_end_to_end_photo_job(uploader, sample_jpeg, app, client, dbx):
    [upload_id] = upload_ids(uploader, sample_jpeg)
    created = start_job(uploader, "anime", [upload_id])["data"]
    assert created["status"] == "queued" and created["queue_position"] == 1 and created["estimated_wait_s"] > 0
    assert uploader.get(f"/api/v1/uploads/{upload_id}").get_json()["data"]["claimed"] is True

    started = time.monotonic()
    run_generation_queue(app)
    job = job_state(uploader, created["id"])
    assert job["status"] == "succeeded" and job["progress"] == 1.0
    assert job["sources_deleted_at"] is not None
    [result] = job["results"]
    assert (result["kind"], result["width"], result["height"]) == ("image", 1024, 1024)

    # sources: deleted with a receipt, within the same transaction that ended the job
    upload = dbx.one(select(Upload).where(Upload.public_id == upload_id))
    assert upload.deleted_at is not None and upload.delete_reason == "job_succeeded"
    assert (upload.deleted_at - dbx.one(select(GenerationJob)).finished_at).total_seconds() < 2
    receipt = dbx.one(select(DeletionReceipt))
    assert (receipt.data_kind, receipt.subject_id) == ("portrait_upload", upload_id)
    assert time.monotonic() - started < 60

    links = uploader.get(f"/api/v1/results/{result['id']}/links").get_json()["data"]
    preview = client.get(links["preview_url"].split("127.0.0.1", 1)[1].split("/", 1)[1].join(["/", ""]))
    assert preview.status_code == 200
    image = Image.open(io.BytesIO(preview.data))
    assert max(image.size) == 720  # a preview, not the original
    assert b"http://www.tc260.org.cn/ns/AIGC/1.0/" in image.info.get("xmp", b"")  # the implicit AI-content label (XMP)
    original = client.get(links["original_url"].split("127.0.0.1", 1)[1].split("/", 1)[1].join(["/", ""]))
    assert original.status_code == 402 and original.get_json()["error"]["code"] == "entitlement_required"
    actions = [log.action for log in dbx.run(lambda s: list(s.scalars(select(OperationLog))))]
    assert actions == ["generate", "download_preview"]


def test_id_photo_has_the_exact_standard_size(uploader, sample_jpeg, app):
    created = start_job(uploader, "id_cn_1inch", upload_ids(uploader, sample_jpeg))["data"]
    run_generation_queue(app)
    [result] = job_state(uploader, created["id"])["results"]
    assert (result["width"], result["height"]) == (295, 413)


def test_queue_position_and_cancel_while_queued(uploader, sample_jpeg, dbx):
    jobs = [start_job(uploader, "pop_art", upload_ids(uploader, sample_jpeg))["data"] for _ in range(3)]
    assert [j["queue_position"] for j in jobs] == [1, 2, 3]  # 1 = next to start
    cancelled = uploader.call("POST", f"/api/v1/jobs/{jobs[1]['id']}/cancel").get_json()["data"]
    assert cancelled["status"] == "cancelled" and cancelled["sources_deleted_at"]
    assert job_state(uploader, jobs[2]["id"])["queue_position"] == 2
    again = uploader.call("POST", f"/api/v1/jobs/{jobs[1]['id']}/cancel")
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "job_already_finished"
    assert dbx.count(DeletionReceipt, DeletionReceipt.reason == "job_cancelled") == 1


def test_uploads_cannot_be_claimed_twice_or_by_others(uploader, sample_jpeg, client, wechat_sandbox):
    ids = upload_ids(uploader, sample_jpeg)
    start_job(uploader, "anime", ids)
    assert start_job(uploader, "anime", ids, expect=409)["error"]["code"] == "upload_not_available"
    bob = Phone(client, wechat_sandbox, "bob", "device-bob")
    wechat_sandbox.set_user("bob", phone="13900001111")
    bob.login()
    bob.bind_phone()
    bob.accept("face_processing")
    bob.call("POST", "/api/v1/me/age", json={"adult_confirmed": True})
    assert start_job(bob, "anime", ids, expect=404)["error"]["code"] == "upload_not_found"
    assert bob.get(f"/api/v1/jobs/{ids[0]}").status_code == 404


def test_wrong_source_count_and_unknown_style(uploader, sample_jpeg):
    ids = upload_ids(uploader, sample_jpeg)
    assert start_job(uploader, "avatar", ids, expect=422)["error"]["code"] == "wrong_source_count"
    assert start_job(uploader, "no_such_style", ids, expect=422)["error"]["code"] == "unknown_style"


class Scripted:
    """A generator whose behaviour the test chooses (registered as a backend, as a real one is)."""

    behaviour = "fail"

    def generate(self, request, progress):
        if self.behaviour == "fail":
            raise GenerationError("the model could not render this photo")
        if self.behaviour == "slow":
            for step in range(100):
                progress(step / 100)
                time.sleep(0.05)
        raise AssertionError("unreachable")


@pytest.fixture
def scripted(app):
    register_generator("scripted", Scripted)
    app.config["GENERATION_BACKEND"] = "scripted"
    yield Scripted
    app.config["GENERATION_BACKEND"] = "classical"


def test_a_failed_job_is_marked_with_a_reason_and_its_sources_deleted(uploader, sample_jpeg, app, scripted, dbx):
    scripted.behaviour = "fail"
    created = start_job(uploader, "anime", upload_ids(uploader, sample_jpeg))["data"]
    run_generation_queue(app)
    job = job_state(uploader, created["id"])
    assert job["status"] == "failed" and job["error_code"] == "generation_failed"
    assert job["sources_deleted_at"] and dbx.count(Upload, Upload.deleted_at.is_(None)) == 0


def test_a_job_past_its_time_limit_fails_and_its_sources_are_deleted(uploader, sample_jpeg, app, scripted, dbx):
    scripted.behaviour = "slow"
    app.config["GENERATION_JOB_TIMEOUT_S"] = 1
    try:
        created = start_job(uploader, "anime", upload_ids(uploader, sample_jpeg))["data"]
        run_generation_queue(app)
    finally:
        app.config["GENERATION_JOB_TIMEOUT_S"] = 600
    job = job_state(uploader, created["id"])
    assert (job["status"], job["error_code"]) == ("failed", "timeout")
    assert dbx.count(Upload, Upload.deleted_at.is_(None)) == 0


def test_cancel_while_running_stops_at_the_next_step(uploader, sample_jpeg, app, scripted, dbx):
    scripted.behaviour = "slow"
    created = start_job(uploader, "anime", upload_ids(uploader, sample_jpeg))["data"]
    dbx.execute(update(GenerationJob).values(status="running"))  # as if a worker had started it
    assert uploader.call("POST", f"/api/v1/jobs/{created['id']}/cancel").status_code == 200
    dbx.execute(update(GenerationJob).values(status="queued"))
    run_generation_queue(app)
    job = job_state(uploader, created["id"])
    assert job["status"] == "cancelled" and job["sources_deleted_at"]


def test_running_a_job_twice_produces_one_result_set(uploader, sample_jpeg, app, dbx):
    created = start_job(uploader, "pop_art", upload_ids(uploader, sample_jpeg))["data"]
    run_generation_queue(app)
    job_id = dbx.one(select(GenerationJob)).id
    from app.generation.tasks import run_generation

    with app.app_context():
        assert run_generation(job_id) == "succeeded"
    assert len(job_state(uploader, created["id"])["results"]) == 1


def test_sweep_resolves_a_job_whose_worker_died(uploader, sample_jpeg, app, dbx):
    created = start_job(uploader, "anime", upload_ids(uploader, sample_jpeg))["data"]
    from datetime import timedelta

    dbx.execute(update(GenerationJob).values(status="running", started_at=utcnow() - timedelta(minutes=5)))
    with app.app_context():
        counts = services.sweep()
    assert counts["worker_lost"] == 1
    job = job_state(uploader, created["id"])
    assert (job["status"], job["error_code"]) == ("failed", "worker_lost")
    assert dbx.count(Upload, Upload.deleted_at.is_(None)) == 0


def test_withdrawing_face_consent_cancels_queued_jobs(uploader, sample_jpeg):
    created = start_job(uploader, "anime", upload_ids(uploader, sample_jpeg))["data"]
    uploader.call("DELETE", "/api/v1/me/consents/face_processing")
    assert job_state(uploader, created["id"])["status"] == "cancelled"
