"""O(1) queue positions (app/generation/positions.py): the place read from sequence numbers always equals
the job's index in RQ's own list, under interleaved enqueues, cancellation ahead, a worker starting jobs,
a start whose bookkeeping was lost (crash), a job RQ lost and the sweep re-enqueued, and the fair queue's
per-user deferral. Runs on SQLite + fakeredis and on PostgreSQL + Redis."""

from datetime import timedelta

from rq import Queue
from rq.job import Job
from sqlalchemy import update

from app.core.db import utcnow
from app.core.jobs import redis_connection
from app.generation import positions, services
from app.generation.models import GenerationJob
from tests.generation.conftest import start_job, upload_ids
from tests.generation.test_fair_queue import rq_job_ids, state
from tests.uploads.test_limits import adult_uploader
from workers.base import AppSimpleWorker


def rq_places(app) -> dict[str, int]:
    """Ground truth: 1 + the index in RQ's list (what the old poll scanned for)."""
    return {rq_id.removeprefix("generation-"): i + 1 for i, rq_id in enumerate(rq_job_ids(app))}


def assert_places_match_rq(app, phones_jobs) -> None:
    truth = rq_places(app)
    for phone, job_id in phones_jobs:
        job = state(phone, job_id)
        if job_id in truth:
            assert job["queue_position"] == truth[job_id], (job_id, job, truth)
    with app.app_context():
        snap = positions.snapshot(redis_connection(app), [f"generation-{j}" for _, j in phones_jobs])
    assert snap.in_rq == len(truth)


def start_one(app) -> None:
    """A real worker takes exactly one job off RQ and runs it."""
    conn = redis_connection(app)
    AppSimpleWorker([Queue("generation", connection=conn)], connection=conn, flask_app=app).work(
        burst=True, max_jobs=1)


def test_the_bookkeeping_alone(app):
    """Sequence numbers and the head: interleaved entries, out-of-order leaves, a re-entry, reconcile."""
    with app.app_context():
        conn = redis_connection(app)
        for rq_id in "abcdef":
            pipe = conn.pipeline()
            positions.enter(pipe, rq_id)
            pipe.execute()

        def places(*ids):
            return positions.snapshot(conn, ids).places

        assert places(*"abcdef") == (1, 2, 3, 4, 5, 6)
        assert positions.leave(conn, "c") == 1 and positions.leave(conn, "c") == 0  # idempotent
        assert places(*"abcdef") == (1, 2, None, 3, 4, 5)
        assert conn.zcard(positions.GONE_KEY) == 1  # c left out of order: remembered above the head
        positions.leave(conn, "a")
        assert places(*"bdef") == (1, 2, 3, 4)
        positions.leave(conn, "b")  # the head passes b, and c which left before
        assert int(conn.get(positions.HEAD_KEY)) == 4 and conn.zcard(positions.GONE_KEY) == 0
        pipe = conn.pipeline()
        positions.enter(pipe, "d")  # d re-enters (lost by RQ, re-enqueued): at the tail
        pipe.execute()
        assert places(*"efd") == (1, 2, 3)
        assert positions.snapshot(conn).in_rq == 3
        numbered = positions.entries(conn)
        assert positions.reconcile(conn, numbered, {"generation-x", "f"}) == 2  # d and e no longer wait
        assert places(*"def") == (None, None, 1)


def test_places_equal_rq_order_under_interleaved_enqueues_cancellation_and_starts(
        uploader, sample_jpeg, client, wechat_sandbox, app):
    bob = adult_uploader(client, wechat_sandbox, "bob", "13900001111")
    carol = adult_uploader(client, wechat_sandbox, "carol", "13900002222")
    phones = [uploader, bob, carol]
    jobs = []
    for _ in range(2):  # interleaved: a1 b1 c1 a2 b2 c2 (each user's second waits for their turn)
        for phone in phones:
            jobs.append((phone, start_job(phone, "pop_art", upload_ids(phone, sample_jpeg))["data"]["id"]))
            assert_places_match_rq(app, jobs)
    assert [state(p, j)["queue_position"] for p, j in jobs] == [1, 2, 3, 4, 5, 6]
    # bob cancels his job in RQ: carol's moves up, bob's second takes his turn at the tail
    assert bob.call("POST", f"/api/v1/jobs/{jobs[1][1]}/cancel").status_code == 200
    assert_places_match_rq(app, jobs)
    assert state(carol, jobs[2][1])["queue_position"] == 2
    # a worker starts alice's first: everyone moves up one, alice's second enters at the tail
    start_one(app)
    assert state(uploader, jobs[0][1])["status"] == "succeeded"
    assert state(carol, jobs[2][1])["queue_position"] == 1
    assert_places_match_rq(app, jobs)
    # cancelling the last job in RQ moves nobody ahead of it (jobs waiting for a turn, behind RQ, move up)
    ahead = [rq_id.removeprefix("generation-") for rq_id in rq_job_ids(app)]
    tail = ahead.pop()
    owner = next(p for p, j in jobs if j == tail)
    before = {j: state(p, j)["queue_position"] for p, j in jobs if j in ahead}
    assert owner.call("POST", f"/api/v1/jobs/{tail}/cancel").status_code == 200
    assert {j: state(p, j)["queue_position"] for p, j in jobs if j in ahead} == before
    assert_places_match_rq(app, jobs)
    while rq_job_ids(app):
        start_one(app)
        assert_places_match_rq(app, jobs)
    with app.app_context():
        assert positions.snapshot(redis_connection(app)).in_rq == 0


def test_a_crashed_start_and_a_lost_rq_job_are_repaired_by_the_sweep(uploader, sample_jpeg, client,
                                                                    wechat_sandbox, app, dbx):
    bob = adult_uploader(client, wechat_sandbox, "bob", "13900001111")
    jobs = [(phone, start_job(phone, "pop_art", upload_ids(phone, sample_jpeg))["data"]["id"])
            for phone in (uploader, bob, uploader, bob)]
    conn = redis_connection(app)
    a1, b1 = jobs[0][1], jobs[1][1]
    # A worker took a1 off RQ and marked it running, then died before its leave reached Redis.
    Queue("generation", connection=conn).remove(f"generation-{a1}")
    dbx.execute(update(GenerationJob).where(GenerationJob.public_id == a1)
                .values(status="running", started_at=utcnow() - timedelta(hours=1)))
    assert state(bob, b1)["queue_position"] == 2  # one too high until the sweep: a1's place is still held
    # RQ also lost b1 (a Redis restart): the sweep re-enqueues it, at the tail.
    Job.fetch(f"generation-{b1}", connection=conn).delete()
    later = utcnow() + timedelta(seconds=app.config["GENERATION_HEARTBEAT_TTL_S"] + 1)
    with app.app_context():
        counts = services.sweep(now=later)
    assert counts["worker_lost"] == 1 and counts["requeued"] == 1 and counts["dispatched"] == 1
    assert state(uploader, a1)["status"] == "failed"
    a2 = jobs[2][1]
    assert rq_job_ids(app) == [f"generation-{b1}", f"generation-{a2}"]  # re-enqueued, then alice's next turn
    assert_places_match_rq(app, jobs)
    assert state(bob, b1)["queue_position"] == 1 and state(uploader, a2)["queue_position"] == 2
    while rq_job_ids(app):
        start_one(app)
        assert_places_match_rq(app, jobs)


def test_the_fair_queue_deferral_with_a_cancellation_ahead(uploader, sample_jpeg, client, wechat_sandbox, app):
    """Alice 3 jobs, bob 2, carol 1: a1 b1 c1 a2 b2 a3; bob cancels b1 → a1 c1 a2 b2 a3 (b2 enters RQ)."""
    bob = adult_uploader(client, wechat_sandbox, "bob", "13900001111")
    carol = adult_uploader(client, wechat_sandbox, "carol", "13900002222")
    a = [start_job(uploader, "pop_art", upload_ids(uploader, sample_jpeg))["data"]["id"] for _ in range(3)]
    b = [start_job(bob, "pop_art", upload_ids(bob, sample_jpeg))["data"]["id"] for _ in range(2)]
    c = start_job(carol, "pop_art", upload_ids(carol, sample_jpeg))["data"]["id"]
    assert [state(uploader, j)["queue_position"] for j in a] == [1, 4, 6]
    assert [state(bob, j)["queue_position"] for j in b] == [2, 5]
    assert state(carol, c)["queue_position"] == 3
    assert bob.call("POST", f"/api/v1/jobs/{b[0]}/cancel").status_code == 200
    assert rq_job_ids(app) == [f"generation-{a[0]}", f"generation-{c}", f"generation-{b[1]}"]
    assert state(uploader, a[0])["queue_position"] == 1 and state(carol, c)["queue_position"] == 2
    assert state(bob, b[1])["queue_position"] == 3
    assert [state(uploader, j)["queue_position"] for j in a[1:]] == [4, 5]
    start_one(app)  # a1 starts: a2 enters RQ behind b2
    assert rq_job_ids(app) == [f"generation-{c}", f"generation-{b[1]}", f"generation-{a[1]}"]
    assert [state(carol, c)["queue_position"], state(bob, b[1])["queue_position"],
            *(state(uploader, j)["queue_position"] for j in a[1:])] == [1, 2, 3, 4]
