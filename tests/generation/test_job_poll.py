"""The job poll (app/generation/polling.py): served from Redis without a database query while nothing
changed, an ETag and 304, a new ETag after every change, never a stale or foreign answer, and
next_poll_after_s with a matching Retry-After."""

import contextlib

import pytest
from sqlalchemy import delete, text, update

from app.core.jobs import redis_connection
from app.extensions import db
from app.generation import polling
from app.generation.models import GenerationJob
from tests.generation.conftest import run_generation_queue, start_job, upload_ids
from tests.sql import statements
from tests.uploads.test_limits import adult_uploader


def poll(phone, job_id, etag=None):
    headers = {**phone.headers(), **({"If-None-Match": etag} if etag else {})}
    return phone.client.get(f"/api/v1/jobs/{job_id}", headers=headers)


def new_job(phone, jpeg) -> str:
    return start_job(phone, "pop_art", upload_ids(phone, jpeg))["data"]["id"]


def test_an_unchanged_job_is_answered_from_redis_and_304(uploader, sample_jpeg, app):
    job_id = new_job(uploader, sample_jpeg)
    first = poll(uploader, job_id)  # reads the row, stores the answer
    assert first.status_code == 200 and first.headers["ETag"]
    with statements(app) as sent:
        again = poll(uploader, job_id)
        unchanged = poll(uploader, job_id, first.headers["ETag"])
    assert sent == []  # neither poll asked the database (the consent guard's standing is cached too)
    assert again.get_json() == first.get_json() and again.headers["ETag"] == first.headers["ETag"]
    assert unchanged.status_code == 304 and unchanged.data == b""
    assert unchanged.headers["ETag"] == first.headers["ETag"]
    data = first.get_json()["data"]
    assert data["queue_position"] == 1 and first.headers["Retry-After"] == str(data["next_poll_after_s"])
    assert poll(uploader, job_id, '"stale"').status_code == 200


def test_every_change_gives_a_new_etag(uploader, sample_jpeg, client, wechat_sandbox, app, dbx):
    bob = adult_uploader(client, wechat_sandbox, "bob", "13900001111")
    ahead = new_job(bob, sample_jpeg)
    job_id = new_job(uploader, sample_jpeg)
    seen = [poll(uploader, job_id).headers["ETag"]]

    def changed(expect_status=200):
        response = poll(uploader, job_id, seen[-1])
        assert response.status_code == expect_status, response.get_json()
        if expect_status == 200:
            assert response.headers["ETag"] not in seen
            seen.append(response.headers["ETag"])
            return response.get_json()["data"]
        return None

    assert poll(uploader, job_id).get_json()["data"]["queue_position"] == 2
    assert bob.call("POST", f"/api/v1/jobs/{ahead}/cancel").status_code == 200  # a position change
    assert changed()["queue_position"] == 1
    # progress, written as the runner writes it (naming the user) ...
    with app.app_context():
        db.session.execute(update(GenerationJob).where(GenerationJob.public_id == job_id).values(progress=0.25),
                           execution_options={polling.EPOCH_OPTION: 0})  # the wrong user: no bump for ours
        db.session.commit()
    assert changed(304) is None  # the answer was cached before: proof that the entry is what is served
    with app.app_context():
        row = db.session.scalar(db.select(GenerationJob).where(GenerationJob.public_id == job_id))
        db.session.execute(GenerationJob.__table__.update().where(GenerationJob.id == row.id).values(progress=0.5),
                           execution_options={polling.EPOCH_OPTION: row.user_id})
        db.session.commit()
    assert changed()["progress"] == 0.5
    # ... a bulk UPDATE that names no user, and raw SQL, renew everyone's answers
    dbx.execute(update(GenerationJob).where(GenerationJob.public_id == job_id).values(progress=0.6))
    assert changed()["progress"] == 0.6
    dbx.run(lambda s: (s.execute(text("UPDATE generation_jobs SET progress = 0.7 WHERE public_id = :p"),
                                 {"p": job_id}), s.commit()))
    assert changed()["progress"] == 0.7
    run_generation_queue(app)  # completion: status, results
    done = changed()
    assert done["status"] == "succeeded" and done["results"] and done["next_poll_after_s"] is None
    assert "Retry-After" not in poll(uploader, job_id).headers
    # a result deleted (a bulk UPDATE, as the retention sweep does)
    from app.core.db import utcnow
    from app.generation.models import GenerationResult

    dbx.run(lambda s: (s.execute(update(GenerationResult).where(GenerationResult.job_id == s.scalar(
        db.select(GenerationJob.id).where(GenerationJob.public_id == job_id))).values(deleted_at=utcnow())),
        s.commit()))
    assert changed()["results"] == []
    assert changed(304) is None


def test_cancelled_withdrawn_deleted_and_foreign_jobs_are_never_served_from_the_cache(
        uploader, sample_jpeg, client, wechat_sandbox, app, dbx):
    jobs = [new_job(uploader, sample_jpeg) for _ in range(3)]
    etags = {j: poll(uploader, j).headers["ETag"] for j in jobs}
    for j in jobs:
        assert poll(uploader, j, etags[j]).status_code == 304  # all cached
    # another user asking for alice's job: 404, not her cached answer
    bob = adult_uploader(client, wechat_sandbox, "bob", "13900001111")
    assert poll(bob, jobs[0]).status_code == 404
    assert poll(bob, jobs[0], etags[jobs[0]]).status_code == 404
    # cancelled
    assert uploader.call("POST", f"/api/v1/jobs/{jobs[0]}/cancel").status_code == 200
    assert poll(uploader, jobs[0], etags[jobs[0]]).get_json()["data"]["status"] == "cancelled"
    # the job row deleted (through the ORM) → 404
    dbx.run(lambda s: (s.delete(s.scalar(db.select(GenerationJob).where(GenerationJob.public_id == jobs[0]))),
                       s.commit()))
    assert poll(uploader, jobs[0], etags[jobs[0]]).status_code == 404
    # a bulk DELETE → 404
    dbx.execute(delete(GenerationJob).where(GenerationJob.public_id == jobs[1]))
    assert poll(uploader, jobs[1], etags[jobs[1]]).status_code == 404
    # face-processing consent withdrawn: the queued job is cancelled, never answered "queued" from the cache
    uploader.call("DELETE", "/api/v1/me/consents/face_processing")
    response = poll(uploader, jobs[2], etags[jobs[2]])
    assert response.status_code == 200 and response.get_json()["data"]["status"] == "cancelled"


def test_a_job_waiting_for_its_turn_is_not_cached_and_redis_down_falls_back(uploader, sample_jpeg, app):
    first, second = new_job(uploader, sample_jpeg), new_job(uploader, sample_jpeg)
    assert poll(uploader, second).get_json()["data"]["queue_position"] == 2
    with statements(app) as sent:
        poll(uploader, second)
    assert [s for s in sent if "generation_jobs" in s]  # its place comes from the rows (the fair queue's turns)
    poll(uploader, first)  # in RQ: cached
    conn = redis_connection(app)
    assert [k for k in conn.keys("generation:view:*") if second.encode() in k] == []
    assert [k for k in conn.keys("generation:view:*") if first.encode() in k]


@pytest.mark.parametrize(("status", "wait", "expect"), [
    ("queued", 5, 2), ("queued", 20, 2), ("queued", 300, 30), ("queued", 100_000, 60), ("queued", None, 5),
    ("running", None, 2), ("succeeded", None, None), ("failed", None, None), ("cancelled", None, None)])
def test_next_poll_after_rule(status, wait, expect):
    assert polling.next_poll_after(status, wait) == expect


def test_the_cached_answer_is_in_each_reader_s_language(uploader, sample_jpeg):
    """The answer carries texts (status_text, style_name): a Chinese poll's cache never answers an English one."""
    job_id = new_job(uploader, sample_jpeg)

    def poll_in(language):
        headers = {**uploader.headers(), "Accept-Language": language}
        return uploader.client.get(f"/api/v1/jobs/{job_id}", headers=headers).get_json()["data"]

    chinese = poll_in("zh-CN")
    assert poll_in("zh-CN") == chinese  # the second one from the cache
    english = poll_in("en")
    assert english["status_text"] != chinese["status_text"] and english["style_name"] != chinese["style_name"]
    assert poll_in("en") == english and poll_in("zh-CN") == chinese


@contextlib.contextmanager
def redis_round_trips():
    """How many times this process wrote to Redis meanwhile (one write = one round trip: a command or a
    pipeline, real Redis or fakeredis alike)."""
    from redis.connection import AbstractConnection

    sent = []
    original = AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):
        sent.append(command)
        return original(self, command, check_health)

    AbstractConnection.send_packed_command = counting
    try:
        yield sent
    finally:
        AbstractConnection.send_packed_command = original


def cached_poll(phone, job_id, app) -> str:
    """Warm every cache (auth, consent standing, the answer) and prove a poll is then one round trip."""
    for _ in range(3):
        etag = poll(phone, job_id).headers["ETag"]
    with statements(app) as sent, redis_round_trips() as trips:
        assert poll(phone, job_id, etag).status_code == 304
        assert poll(phone, job_id).status_code == 200
    assert sent == [] and len(trips) == 2, trips  # auth epochs + consent standing + the answer: one each
    # ... and each round trip one write: redis-py sends a list of buffers with one system call per buffer
    assert all(isinstance(command, bytes) or len(command) == 1 for command in trips), trips
    return etag


def test_a_cached_poll_is_one_redis_round_trip_and_no_sql(uploader, sample_jpeg, app):
    job_id = new_job(uploader, sample_jpeg)
    etag = cached_poll(uploader, job_id, app)
    # the script flushed (a restarted Redis): the ridden EVALSHA fails, the poll reads it again itself
    redis_connection(app).script_flush()
    with redis_round_trips() as trips:
        assert poll(uploader, job_id, etag).status_code == 304
    assert len(trips) == 2
    cached_poll(uploader, job_id, app)


def test_a_revoked_session_is_refused_by_the_very_next_cached_poll(uploader, sample_jpeg, app, dbx):
    from app.accounts.models import LoginSession
    from app.core.db import utcnow

    job_id = new_job(uploader, sample_jpeg)
    etag = cached_poll(uploader, job_id, app)
    dbx.run(lambda s: ([setattr(row, "revoked_at", utcnow()) for row in s.scalars(db.select(LoginSession))],
                       s.commit()))
    refused = poll(uploader, job_id, etag)
    assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "authentication_required"


def test_a_withdrawn_service_consent_is_refused_by_the_very_next_cached_poll(uploader, sample_jpeg, app, dbx):
    from app.consent import policy
    from app.consent.models import ConsentRecord

    job_id = new_job(uploader, sample_jpeg)
    etag = cached_poll(uploader, job_id, app)

    def withdraw(session):  # as account deletion or support could record it
        user_id = session.scalar(db.select(GenerationJob.user_id).where(GenerationJob.public_id == job_id))
        session.add(ConsentRecord(user_id=user_id, purpose="service", action="withdrawn",
                                  policy_version_id=policy.INITIAL_VERSION_ID, channel="support", client_info={}))
        session.commit()

    dbx.run(withdraw)
    refused = poll(uploader, job_id, etag)
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "consent_required"


def test_a_changed_job_is_seen_by_the_very_next_cached_poll(uploader, sample_jpeg, app):
    job_id = new_job(uploader, sample_jpeg)
    etag = cached_poll(uploader, job_id, app)
    assert uploader.call("POST", f"/api/v1/jobs/{job_id}/cancel").status_code == 200
    changed = poll(uploader, job_id, etag)
    assert changed.status_code == 200 and changed.get_json()["data"]["status"] == "cancelled"
