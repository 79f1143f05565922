"""snapshot(): the staff dashboard's figures, read from the database and Redis, with its alerts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rq import Queue
from rq.job import Job

from app.core.db import utcnow
from app.core.jobs import QUEUE_NAMES, connect_redis, redis_connection
from app.extensions import db
from app.monitoring.readings import percentile
from app.monitoring.snapshot import snapshot
from tests.conftest import free_port
from tests.monitoring.seed import ended_job_with_source, enqueue_aged, make_job, make_upload, make_user, rights_request

MIN = timedelta(minutes=1)


def alert_names(snap: dict) -> list[str]:
    return sorted(alert["name"] for alert in snap["alerts"])


def test_empty_system_has_the_documented_shape_and_no_alert(app_ctx):
    snap = snapshot()
    assert set(snap) == {"queues", "jobs", "deletion_backlog", "rights_requests", "alerts"}
    assert snap["queues"] == {name: {"depth": 0, "oldest_age_s": None, "failed": 0} for name in QUEUE_NAMES}
    assert snap["jobs"]["last_hour"] == {"succeeded": 0, "failed": 0, "cancelled": 0}
    assert snap["jobs"]["latency_p50_s"] is None and snap["jobs"]["latency_p95_s"] is None
    backlog = snap["deletion_backlog"]
    assert (backlog["count"], backlog["oldest_age_s"], backlog["alert"]) == (0, None, False)
    assert snap["rights_requests"] == {"pending": 0, "overdue": 0}
    assert snap["alerts"] == []


def test_queue_depth_age_and_failed_registry(app_ctx):
    enqueue_aged("generation", 2 * MIN)
    enqueue_aged("generation", 30 * timedelta(seconds=1))
    enqueue_aged("default", 5 * MIN)  # default's threshold is 60 s
    failed = enqueue_aged("maintenance", timedelta(0))
    maintenance = Queue("maintenance", connection=redis_connection())
    maintenance.remove(failed)
    maintenance.failed_job_registry.add(failed, ttl=600)
    expired = Job.create("app.ops.tasks.answer_probe", args=(2,), connection=redis_connection())
    expired.save()
    maintenance.failed_job_registry.add(expired, ttl=1)
    redis_connection().zadd(maintenance.failed_job_registry.key, {expired.id: utcnow().timestamp() - 5})

    snap = snapshot()
    generation, default, maint = (snap["queues"][name] for name in ("generation", "default", "maintenance"))
    assert generation["depth"] == 2
    assert 119 <= generation["oldest_age_s"] <= 130, "the age is the oldest waiting job's, not the newest's"
    assert default["depth"] == 1 and 299 <= default["oldest_age_s"] <= 310
    assert maint == {"depth": 0, "oldest_age_s": None, "failed": 1}, "expired failures are not counted"
    assert alert_names(snap) == ["queue_age"]
    assert snap["alerts"][0]["queue"] == "default"
    # Reading must not clean the registry up (the scrape is read-only): the expired entry is still there.
    assert redis_connection().zscore(maintenance.failed_job_registry.key, expired.id) is not None


def test_queue_alert_uses_each_queues_threshold(app_ctx, monkeypatch):
    enqueue_aged("generation", 2 * MIN)
    assert snapshot()["alerts"] == [], "generation's threshold (15 min) is not reached"
    monkeypatch.setitem(app_ctx.config["ALERT_QUEUE_AGE_S"], "generation", 60)
    assert [a["queue"] for a in snapshot()["alerts"]] == ["generation"]


def test_unreachable_redis_is_an_alert_not_an_error(app_ctx):
    real = app_ctx.extensions["redis"]
    app_ctx.extensions["redis"] = connect_redis(f"redis://127.0.0.1:{free_port()}/0", 0.5)
    try:
        snap = snapshot()
    finally:
        app_ctx.extensions["redis"] = real
    assert snap["queues"] == {}
    assert alert_names(snap) == ["queue_unavailable"]


def test_deletion_backlog_counts_sources_of_ended_jobs_and_alerts_past_the_threshold(app_ctx):
    user = make_user()
    ended_job_with_source(user, ended_ago=timedelta(seconds=30))  # late, but within the sweep interval
    ended_job_with_source(user, ended_ago=10 * MIN, deleted=True)  # done right: not counted
    running = make_job(user, status="running")
    make_upload(user, claimed_by=running.public_id)  # still in use: not a backlog
    db.session.commit()
    backlog = snapshot()["deletion_backlog"]
    assert backlog["count"] == 1 and 29 <= backlog["oldest_age_s"] <= 40
    assert backlog["alert"] is False

    ended_job_with_source(user, ended_ago=10 * MIN, status="succeeded")
    db.session.commit()
    snap = snapshot()
    backlog = snap["deletion_backlog"]
    assert backlog["count"] == 2 and 599 <= backlog["oldest_age_s"] <= 610
    assert backlog["by_kind"]["job_sources"]["count"] == 2
    assert backlog["alert"] is True
    assert alert_names(snap) == ["deletion_backlog"]


def test_unclaimed_uploads_count_from_the_end_of_their_ttl(app_ctx):
    ttl = timedelta(seconds=app_ctx.config["UPLOAD_UNCLAIMED_TTL_S"])
    user = make_user()
    make_upload(user, created_at=utcnow() - ttl + MIN)  # not expired yet
    make_upload(user, created_at=utcnow() - ttl - 2 * MIN)
    db.session.commit()
    backlog = snapshot()["deletion_backlog"]
    assert backlog["by_kind"]["unclaimed_uploads"]["count"] == 1
    assert 119 <= backlog["by_kind"]["unclaimed_uploads"]["oldest_age_s"] <= 130
    assert backlog["alert"] is False


def test_jobs_of_the_last_hour_and_their_latency(app_ctx):
    user = make_user()
    now = utcnow()
    for seconds in range(1, 21):  # 20 succeeded jobs taking 10 s, 20 s, … 200 s end to end
        make_job(user, status="succeeded", finished_at=now - MIN,
                 created_at=now - MIN - timedelta(seconds=10 * seconds))
    make_job(user, status="failed", finished_at=now - MIN)
    make_job(user, status="succeeded", finished_at=now - 2 * timedelta(hours=1))  # outside the window
    make_job(user, status="queued")
    db.session.commit()
    jobs = snapshot()["jobs"]
    assert jobs["last_hour"] == {"succeeded": 20, "failed": 1, "cancelled": 0}
    assert jobs["in_progress"] == {"queued": 1, "running": 0}
    assert jobs["latency_p50_s"] == 100.0
    assert jobs["latency_p95_s"] == 190.0


@pytest.mark.parametrize(("values", "fraction", "expected"), [
    ([], 0.5, None), ([7.0], 0.95, 7.0), ([1.0, 2.0], 0.5, 1.0), ([1.0, 2.0, 3.0, 4.0], 0.95, 4.0),
])
def test_percentile_is_nearest_rank(values, fraction, expected):
    assert percentile(values, fraction) == expected


def test_rights_requests_pending_and_overdue(app_ctx):
    user = make_user()
    rights_request(user.id, due_in=timedelta(days=10))
    rights_request(None, due_in=-timedelta(hours=1))  # account already gone: still owed an answer
    rights_request(user.id, status="completed", due_in=-timedelta(days=3))
    db.session.commit()
    snap = snapshot()
    assert snap["rights_requests"] == {"pending": 2, "overdue": 1}
    assert alert_names(snap) == ["rights_request_overdue"]
