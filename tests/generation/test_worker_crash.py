"""SIGKILL a generation worker mid-job: the sweep notices (no heartbeat) and deletes the sources."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from app.generation import services
from app.generation.models import GenerationJob
from app.uploads.models import Upload
from tests.conftest import make_app
from tests.generation.conftest import start_job, upload_ids

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow



def test_sigkill_mid_job_then_sweep_deletes_sources_and_fails_the_job(app, wechat_sandbox, shared_redis_url, dbx):
    from tests.accounts.helpers import Phone
    from tests.uploads import images

    heartbeat_ttl = 2
    crash_app = make_app(REDIS_URL=shared_redis_url, WECHAT_API_BASE_URL=wechat_sandbox.base_url,
                         CONTENT_CHECK_ENABLED=False, GENERATION_HEARTBEAT_TTL_S=heartbeat_ttl)
    phone = Phone(crash_app.test_client(), wechat_sandbox, "erin", "device-erin")
    wechat_sandbox.set_user("erin", phone="13866667777")
    phone.login()
    phone.bind_phone()
    phone.accept("face_processing")
    phone.call("POST", "/api/v1/me/age", json={"adult_confirmed": True})
    job = start_job(phone, "oil_painting", upload_ids(phone, images.encode(images.portrait())))["data"]

    env = {**os.environ, "MIAOHUA_ENV": "testing", "TEST_DATABASE_URL": crash_app.config["SQLALCHEMY_DATABASE_URI"],
           "TEST_REDIS_URL": shared_redis_url,
           "GENERATION_HEARTBEAT_TTL_S": str(heartbeat_ttl), "WECHAT_API_BASE_URL": wechat_sandbox.base_url}
    worker = subprocess.Popen([sys.executable, "-m", "workers", "--queues", "generation", "--simple"], cwd=ROOT,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while dbx.one(select(GenerationJob).where(GenerationJob.public_id == job["id"])).status != "running":
            assert time.monotonic() < deadline, "the worker never started the job"
            time.sleep(0.05)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
    killed_at = time.monotonic()
    assert dbx.one(select(GenerationJob).where(GenerationJob.public_id == job["id"])).status == "running"
    assert dbx.count(Upload, Upload.deleted_at.is_(None)) == 1  # the dead worker deleted nothing

    with crash_app.app_context():
        assert services.sweep()["worker_lost"] == 0  # heartbeat still fresh: maybe alive
        time.sleep(heartbeat_ttl + 0.5)
        assert services.sweep()["worker_lost"] == 1
    resolved = dbx.one(select(GenerationJob).where(GenerationJob.public_id == job["id"]))
    assert (resolved.status, resolved.error_code) == ("failed", "worker_lost")
    assert dbx.count(Upload, Upload.deleted_at.is_(None)) == 0
    assert time.monotonic() - killed_at < heartbeat_ttl + 5  # sources gone within one sweep of the crash
