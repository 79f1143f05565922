from rq import Queue

from app.core.jobs import redis_connection
from app.ops.periodic import PERIODIC_JOBS, build_scheduler


def test_every_periodic_job_has_a_stable_id_a_queue_and_an_interval(app):
    ids = [job.id for job in PERIODIC_JOBS]
    assert len(ids) == len(set(ids))
    for job in PERIODIC_JOBS:
        assert app.config[job.interval_setting] > 0


def test_the_scheduler_enqueues_the_sweep_on_the_maintenance_queue(app_ctx):
    scheduler = build_scheduler(app_ctx, redis_connection())
    enqueued = scheduler.enqueue_jobs()
    assert {job.name for job in enqueued} == {job.id for job in PERIODIC_JOBS}
    queue = Queue("maintenance", connection=redis_connection())
    assert {"app.uploads.tasks.sweep_uploads", "app.generation.tasks.sweep_generation_jobs"} <= {
        job.func_name for job in queue.jobs}


def test_the_sweep_job_runs_in_a_worker(app, app_ctx):
    from rq.job import JobStatus

    from workers.base import AppSimpleWorker

    build_scheduler(app_ctx, redis_connection()).enqueue_jobs()
    conn = redis_connection()
    queue = Queue("maintenance", connection=conn)
    jobs = queue.jobs
    AppSimpleWorker([queue], connection=conn, flask_app=app).work(burst=True)
    for job in jobs:
        job.refresh()
        assert job.get_status() == JobStatus.FINISHED
        assert set(job.return_value()) in ({"unclaimed_deleted", "review_timed_out", "review_restarted"},
                                           {"worker_lost", "requeued", "dispatched"},
                                           {"queried", "paid", "closed", "shipping_retried"},
                                           {"resumed"}, {"idempotency_keys_purged"},
                                           set(app.config["RETENTION"]), {"copied"})
