"""Two schedulers at once (a standby, or one started by mistake) never run the same periodic job twice."""

import itertools
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rq import Queue
from rq.cron import get_cron_job_history_key, get_cron_job_ids

from app.core.jobs import connect_redis, redis_connection
from app.ops.periodic import LEASE_KEY_PREFIX, PERIODIC_JOBS, build_scheduler
from tests.conftest import make_app

ROOT = Path(__file__).resolve().parents[2]
INTERVALS = tuple(job.interval_setting for job in PERIODIC_JOBS)


def maintenance_and_default_jobs(conn) -> list[str]:
    return [job.func_name for name in {job.task.queue for job in PERIODIC_JOBS}
            for job in Queue(name, connection=conn).jobs]


def test_the_second_scheduler_skips_what_the_first_enqueued(app_ctx):
    conn = redis_connection()
    conn.flushdb()  # leases left by an interrupted earlier run would decide the first turn
    first, second = build_scheduler(app_ctx, conn), build_scheduler(app_ctx, conn)
    assert first.name != second.name

    assert {job.name for job in first.enqueue_jobs()} == {job.id for job in PERIODIC_JOBS}
    assert second.enqueue_jobs() == []
    assert len(maintenance_and_default_jobs(conn)) == len(PERIODIC_JOBS)
    for job in PERIODIC_JOBS:
        holder = conn.get(LEASE_KEY_PREFIX + job.id)
        assert (holder.decode() if isinstance(holder, bytes) else holder) == first.name
    # the loser does not retry at once: its next look is one interval away
    assert second.enqueue_jobs() == [] and first.enqueue_jobs() == []


def test_when_the_lease_holder_stops_another_scheduler_takes_over_after_one_interval(wechat_sandbox):
    app = make_app(WECHAT_API_BASE_URL=wechat_sandbox.base_url, **dict.fromkeys(INTERVALS, 1))
    with app.app_context():
        conn = redis_connection()
        conn.flushdb()
        first, second = build_scheduler(app, conn), build_scheduler(app, conn)
        assert len(first.enqueue_jobs()) == len(PERIODIC_JOBS)
        assert second.enqueue_jobs() == []
        time.sleep(1.2)  # the first scheduler "stopped": its leases run out, nobody renews them
        assert len(second.enqueue_jobs()) == len(PERIODIC_JOBS)
        assert first.enqueue_jobs() == []  # back again, it finds the other's leases
        assert len(maintenance_and_default_jobs(conn)) == 2 * len(PERIODIC_JOBS)



@pytest.mark.slow
def test_two_scheduler_processes_enqueue_each_job_at_most_once_per_interval(app, shared_redis_url):
    conn = connect_redis(shared_redis_url)
    conn.flushdb()
    env = {**os.environ, "MIAOHUA_ENV": "testing", "TEST_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "TEST_REDIS_URL": shared_redis_url, **dict.fromkeys(INTERVALS, "1")}
    procs = [subprocess.Popen([sys.executable, "-m", "workers.scheduler"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        deadline = time.monotonic() + 90  # both import the whole app first: slow on a busy machine
        while not all(get_cron_job_ids(job.id, conn) for job in PERIODIC_JOBS):
            assert time.monotonic() < deadline, "no scheduler enqueued anything"
            for proc in procs:
                assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.2)
        time.sleep(5)  # both running: five more intervals
        for proc in procs:
            assert proc.poll() is None, proc.stderr.read()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)

    for job in PERIODIC_JOBS:
        ids = get_cron_job_ids(job.id, conn)
        assert len(ids) >= 2, (job.id, len(ids))
        times = sorted(conn.zscore(get_cron_job_history_key(job.id), job_id) for job_id in ids)
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        assert min(gaps) >= 0.9, (job.id, gaps)  # never two runs within one interval
