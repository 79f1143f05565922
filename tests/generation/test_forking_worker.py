"""The deployed forking generation worker (``python -m workers --queues generation``): its work horses inherit the
model stack imported by the parent (never its models), and real generation jobs still succeed in them."""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import select

from app.generation.models import GenerationJob
from app.uploads.models import Upload
from tests.conftest import make_app
from tests.generation.conftest import start_job, upload_ids
from tests.generation.worker_probes import inherited_state

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

HEAVY = ["cv2", "numpy", "PIL.Image", "mediapipe", "workers.generators.analysis", "workers.generators.classical",
         "app.generation.runner", "app.generation.likeness"]


def worker_env(redis_url: str, database_url: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "MIAOHUA_ENV": "testing", "TEST_DATABASE_URL": database_url, "TEST_REDIS_URL": redis_url,
            **extra}


def run_forking_worker(redis_url: str, database_url: str, queues: list[str], timeout_s: float = 180) -> None:
    """The deployed command, in burst mode: it drains ``queues`` (one forked work horse per job) and exits."""
    done = subprocess.run([sys.executable, "-m", "workers", "--queues", *queues, "--burst"], cwd=ROOT,
                          env=worker_env(redis_url, database_url), capture_output=True, text=True, timeout=timeout_s)
    assert done.returncode == 0, done.stderr[-3000:]


def probe(redis_url: str, queue_name: str):
    return Queue(queue_name, connection=Redis.from_url(redis_url)).enqueue(inherited_state, HEAVY)


def probe_result(job) -> dict:
    result = job.latest_result()
    assert result is not None and result.type == result.Type.SUCCESSFUL, result and result.exc_string
    return result.return_value


def test_work_horses_inherit_the_model_stack_but_no_model_and_real_jobs_succeed(app, wechat_sandbox, dbx,
                                                                                 shared_redis_url):
    from tests.accounts.helpers import Phone
    from tests.uploads import images

    database_url = app.config["SQLALCHEMY_DATABASE_URI"]
    env = worker_env(shared_redis_url, database_url, WECHAT_API_BASE_URL=wechat_sandbox.base_url)
    worker = subprocess.Popen([sys.executable, "-m", "workers", "--queues", "generation"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # The testing config keeps objects under a directory named after the process: share the worker's.
        storage = str(Path(tempfile.gettempdir()) / f"miaohua-test-objects-{worker.pid}")
        client_app = make_app(REDIS_URL=shared_redis_url, WECHAT_API_BASE_URL=wechat_sandbox.base_url,
                              CONTENT_CHECK_ENABLED=False, STORAGE_LOCAL_ROOT=storage)
        phone = Phone(client_app.test_client(), wechat_sandbox, "fern", "device-fern")
        wechat_sandbox.set_user("fern", phone="13866668888")
        phone.login()
        phone.bind_phone()
        phone.accept("face_processing")
        phone.call("POST", "/api/v1/me/age", json={"adult_confirmed": True})
        probe_job = probe(shared_redis_url, "generation")
        job = start_job(phone, "pop_art", upload_ids(phone, images.encode(images.portrait())))["data"]
        deadline = time.monotonic() + 180
        while (done := dbx.one(select(GenerationJob).where(GenerationJob.public_id == job["id"]))).status in (
                "queued", "running"):
            assert worker.poll() is None, "the worker died"
            assert time.monotonic() < deadline, "the job did not finish"
            time.sleep(0.1)
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
        shutil.rmtree(storage, ignore_errors=True)

    state = probe_result(probe_job)
    assert state["loaded"] == dict.fromkeys(HEAVY, True)  # imported once, in the parent, before the fork
    assert state["graphs_built"] is False  # ...but no model: mediapipe could not run in the horse otherwise
    assert (done.status, done.error_code) == ("succeeded", None)
    assert dbx.count(Upload, Upload.deleted_at.is_(None)) == 0  # sources deleted as the job ended


def test_a_worker_without_the_generation_queue_preloads_nothing(app, shared_redis_url):
    """The control: the same probe finds nothing heavy in a horse of a worker that does not serve generation."""
    probe_job = probe(shared_redis_url, "default")
    run_forking_worker(shared_redis_url, app.config["SQLALCHEMY_DATABASE_URI"], ["default"])
    state = probe_result(probe_job)
    assert state["loaded"]["cv2"] is False and state["loaded"]["mediapipe"] is False
    assert state["graphs_built"] is False
