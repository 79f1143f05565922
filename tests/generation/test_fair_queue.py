"""The fair generation queue (app/generation/queue.py) and the per-user cap on jobs not yet started, through the API."""

from datetime import timedelta

import pytest
from rq import Queue
from rq.job import Job
from sqlalchemy import select, update

from app.core.db import utcnow
from app.core.jobs import redis_connection
from app.generation import services
from app.generation.models import GenerationJob
from app.uploads.models import Upload
from tests.generation.conftest import run_generation_queue, start_job, upload_ids
from tests.uploads.conftest import post_photo
from tests.uploads.test_limits import adult_uploader, assert_rate_limited, setting  # noqa: F401 - fixture


def state(phone, job_id):
    return phone.get(f"/api/v1/jobs/{job_id}").get_json()["data"]


def rq_job_ids(app):
    return Queue("generation", connection=redis_connection(app)).get_job_ids()


def test_one_users_burst_does_not_push_another_user_back(uploader, sample_jpeg, client, wechat_sandbox, app, dbx):
    alice = [start_job(uploader, "pop_art", upload_ids(uploader, sample_jpeg))["data"]["id"] for _ in range(10)]
    assert [state(uploader, j)["queue_position"] for j in alice] == list(range(1, 11))
    assert len(rq_job_ids(app)) == 1  # alice's first job is in RQ, the nine others wait for her turns

    bob = adult_uploader(client, wechat_sandbox, "bob", "13900001111")
    created = start_job(bob, "pop_art", upload_ids(bob, sample_jpeg))["data"]
    assert created["queue_position"] == 2  # behind alice's first job only, not her ten
    per_job = app.config["GENERATION_DEFAULT_SECONDS"]  # no duration measured yet; no worker counted
    assert created["estimated_wait_s"] == 2 * per_job
    positions = [state(uploader, j)["queue_position"] for j in alice]
    assert positions == [1, *range(3, 12)]  # alice's tenth is now 11th: bob's one job goes before it
    assert [state(uploader, j)["estimated_wait_s"] for j in alice] == [p * per_job for p in positions]

    run_generation_queue(app)  # a real worker, in burst mode: it runs until RQ is empty
    started = dict(dbx.run(lambda s: s.execute(select(GenerationJob.public_id, GenerationJob.started_at)).all()))
    order = sorted(started, key=started.get)
    assert order == [alice[0], created["id"], *alice[1:]]
    assert started[created["id"]] < started[alice[9]]
    assert {state(uploader, j)["status"] for j in alice} == {"succeeded"}
    assert state(bob, created["id"])["status"] == "succeeded"


def test_positions_interleave_users_by_turns(uploader, sample_jpeg, client, wechat_sandbox, app):
    """Alice 3 jobs, then bob 2: the queue runs a1, b1, a2, b2, a3."""
    a = [start_job(uploader, "pop_art", upload_ids(uploader, sample_jpeg))["data"]["id"] for _ in range(3)]
    bob = adult_uploader(client, wechat_sandbox, "bob", "13900001111")
    b = [start_job(bob, "pop_art", upload_ids(bob, sample_jpeg))["data"]["id"] for _ in range(2)]
    assert [state(uploader, j)["queue_position"] for j in a] == [1, 3, 5]
    assert [state(bob, j)["queue_position"] for j in b] == [2, 4]
    # cancelling alice's job in RQ hands her turn to her next job, at the tail of RQ (behind bob's first)
    assert uploader.call("POST", f"/api/v1/jobs/{a[0]}/cancel").status_code == 200
    assert rq_job_ids(app) == [f"generation-{b[0]}", f"generation-{a[1]}"]
    assert [state(bob, j)["queue_position"] for j in b] == [1, 3]
    assert [state(uploader, j)["queue_position"] for j in a[1:]] == [2, 4]


def test_jobs_not_yet_started_are_capped_per_user(uploader, sample_jpeg, setting, app, dbx):  # noqa: F811
    setting(GENERATION_MAX_QUEUED_PER_USER=2)
    for _ in range(2):
        start_job(uploader, "pop_art", upload_ids(uploader, sample_jpeg))
    [spare] = upload_ids(uploader, sample_jpeg)
    refused = uploader.call("POST", "/api/v1/jobs", json={"style": "pop_art", "uploads": [spare]})
    error = assert_rate_limited(refused, 1, 3600)
    assert error["details"]["max_queued"] == 2
    assert dbx.count(GenerationJob) == 2
    assert dbx.one(select(Upload).where(Upload.public_id == spare)).claimed_by is None  # still the user's to use
    run_generation_queue(app)  # both start (and end): the user may queue again
    start_job(uploader, "pop_art", [spare])


def test_a_claimed_upload_no_longer_counts_as_live(uploader, sample_jpeg, setting):  # noqa: F811
    setting(UPLOAD_MAX_UNCLAIMED_PER_USER=1)
    ids = upload_ids(uploader, sample_jpeg)
    assert_rate_limited(post_photo(uploader, sample_jpeg), 1, 1800)
    start_job(uploader, "pop_art", ids)
    assert post_photo(uploader, sample_jpeg).status_code == 201


def test_the_sweep_repairs_a_lost_turn_and_a_lost_rq_job(uploader, sample_jpeg, app, dbx):
    jobs = [start_job(uploader, "pop_art", upload_ids(uploader, sample_jpeg))["data"]["id"] for _ in range(2)]
    conn = redis_connection(app)
    # RQ lost the first job (a Redis restart), and the release of the second never happened
    Job.fetch(f"generation-{jobs[0]}", connection=conn).delete()
    dbx.execute(update(GenerationJob).where(GenerationJob.public_id == jobs[0]).values(status="cancelled"))
    later = utcnow() + timedelta(seconds=app.config["GENERATION_HEARTBEAT_TTL_S"] + 1)
    with app.app_context():
        assert services.sweep(now=later) == {"worker_lost": 0, "requeued": 0, "dispatched": 1}
    assert rq_job_ids(app) == [f"generation-{jobs[1]}"]
    Job.fetch(f"generation-{jobs[1]}", connection=conn).delete()
    with app.app_context():
        assert services.sweep(now=later + timedelta(seconds=60))["requeued"] == 1
    run_generation_queue(app)
    assert state(uploader, jobs[1])["status"] == "succeeded"


@pytest.mark.parametrize("rq_status", ["failed", "stopped"])
def test_the_sweep_reenqueues_a_job_whose_rq_job_ended_before_it_started(uploader, sample_jpeg, app, rq_status):
    """E.g. the work horse died before the runner marked the row: otherwise the user's turn would never pass."""
    [job_id] = [start_job(uploader, "pop_art", upload_ids(uploader, sample_jpeg))["data"]["id"]]
    conn = redis_connection(app)
    rq_job = Job.fetch(f"generation-{job_id}", connection=conn)
    Queue("generation", connection=conn).remove(rq_job)
    rq_job.set_status(rq_status)
    later = utcnow() + timedelta(seconds=app.config["GENERATION_HEARTBEAT_TTL_S"] + 1)
    with app.app_context():
        assert services.sweep(now=later)["requeued"] == 1
    run_generation_queue(app)
    assert state(uploader, job_id)["status"] == "succeeded"
