import pytest
from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry

from app.core.jobs import QUEUE_NAMES, enqueue_after_commit, enqueue_now, redis_connection, task
from app.extensions import db
from app.ops import services
from app.ops.models import QueueProbe
from app.ops.tasks import answer_probe
from workers.base import AppSimpleWorker


@task("default", timeout=7, failure_ttl=120)
def explode(probe_id: int) -> None:
    raise RuntimeError(f"probe {probe_id} failed on purpose")


@task("maintenance")
def no_op(item_id: int) -> int:
    return item_id


def run_burst(app, *queue_names):
    conn = redis_connection(app)
    queues = [Queue(name, connection=conn) for name in queue_names or QUEUE_NAMES]
    AppSimpleWorker(queues, connection=conn, flask_app=app).work(burst=True)


def test_named_queues_exist():
    assert set(QUEUE_NAMES) >= {"generation", "default", "maintenance"}


def test_job_is_enqueued_only_after_commit(app_ctx):
    queue = Queue("default", connection=redis_connection())
    probe = QueueProbe(queue="default", rq_job_id="j-commit")
    db.session.add(probe)
    db.session.flush()
    job_id = answer_probe.enqueue_after_commit(probe.id, job_id="j-commit")
    assert queue.count == 0, "nothing may reach the queue before the row is committed"
    db.session.commit()
    assert queue.job_ids == [job_id]
    job = Job.fetch(job_id, connection=redis_connection())
    assert job.args == (probe.id,)
    assert job.func_name == "app.ops.tasks.answer_probe"


def test_rolled_back_transaction_enqueues_nothing(app_ctx):
    queue = Queue("default", connection=redis_connection())
    db.session.add(QueueProbe(queue="default", rq_job_id="j-rollback"))
    db.session.flush()
    answer_probe.enqueue_after_commit(1, job_id="j-rollback")
    db.session.rollback()
    db.session.commit()  # a later commit must not resurrect the dropped job
    assert queue.count == 0
    assert db.session.query(QueueProbe).count() == 0


@pytest.mark.parametrize("bad", [object(), {"id": 1}, [1], 1.5, True, None])
def test_job_arguments_must_be_ids(app_ctx, bad):
    with pytest.raises(TypeError, match="ids"):
        enqueue_after_commit(answer_probe, bad)


def test_jobs_carry_a_time_limit_and_failure_ttl(app_ctx):
    job = enqueue_now(explode, 5)
    assert job.timeout == 7
    assert job.failure_ttl == 120
    default_job = enqueue_now(no_op, 5)
    assert default_job.timeout == app_ctx.config["JOB_DEFAULT_TIMEOUT"]
    assert default_job.failure_ttl == app_ctx.config["JOB_FAILURE_TTL"]


def test_worker_runs_the_probe_inside_the_app_context(app, app_ctx):
    probe = services.start_probe("default")
    run_burst(app, "default")
    db.session.expire_all()
    answered = db.session.get(QueueProbe, probe.id)
    assert answered.answered_at is not None
    assert answered.answered_by
    job = Job.fetch(probe.rq_job_id, connection=redis_connection())
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() == "answered"


def test_probe_task_is_idempotent(app, app_ctx):
    probe = services.start_probe("maintenance")
    run_burst(app, "maintenance")
    db.session.expire_all()
    first = db.session.get(QueueProbe, probe.id).answered_at
    assert services.answer_probe(probe.id) == "answered"
    db.session.expire_all()
    assert db.session.get(QueueProbe, probe.id).answered_at == first


def test_each_queue_is_consumed_only_by_its_workers(app, app_ctx):
    probe = services.start_probe("generation")
    run_burst(app, "default", "maintenance")
    db.session.expire_all()
    assert db.session.get(QueueProbe, probe.id).answered_at is None
    run_burst(app, "generation")
    db.session.expire_all()
    assert db.session.get(QueueProbe, probe.id).answered_at is not None


def test_failed_job_is_kept_for_its_failure_ttl(app, app_ctx):
    job = enqueue_now(explode, 9)
    run_burst(app, "default")
    registry = FailedJobRegistry("default", connection=redis_connection())
    assert job.id in registry.get_job_ids()
    job.refresh()
    assert job.get_status() == JobStatus.FAILED
    assert "failed on purpose" in job.latest_result().exc_string
    ttl = redis_connection().ttl(job.key)
    assert 0 < ttl <= 120


@pytest.mark.redis
def test_real_redis_round_trip(app, app_ctx):
    assert "fakeredis" not in type(redis_connection()).__module__
    probe = services.start_probe("default")
    run_burst(app, "default")
    db.session.expire_all()
    assert db.session.get(QueueProbe, probe.id).answered_at is not None
