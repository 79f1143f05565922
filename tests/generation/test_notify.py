"""The "job done" subscribe message: sent after the job ends when the user allowed it, never failing the job."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from app.generation import notify
from app.generation.models import GenerationJob
from tests.generation.conftest import run_generation_queue, start_job, upload_ids
from workers.generators.base import GenerationError, register_generator

TEMPLATE = notify.DEVELOPMENT_TEMPLATE
SEND_PATH = "/cgi-bin/message/subscribe/send"


def grant(sandbox, user: str = "alice", template: str = TEMPLATE, count: int = 1) -> str:
    return sandbox.dev("subscriptions", {"user": user, "template_id": template, "count": count})["openid"]


def messages(sandbox) -> list[dict]:
    return sandbox.dev("subscribe-messages", method="GET")["messages"]


class Failing:
    name = "failing"

    def generate(self, request, progress):
        raise GenerationError("the model could not render this photo")


@pytest.fixture
def failing(app):
    register_generator("failing", Failing)
    app.config["GENERATION_BACKEND"] = "failing"
    yield
    app.config["GENERATION_BACKEND"] = "classical"


def job_state(phone, job_id):
    return phone.get(f"/api/v1/jobs/{job_id}").get_json()["data"]


def finish_one_job(uploader, sample_jpeg, app, style="pop_art") -> dict:
    created = start_job(uploader, style, upload_ids(uploader, sample_jpeg))["data"]
    run_generation_queue(app)
    return job_state(uploader, created["id"])


def test_a_subscribed_user_is_told_when_the_job_succeeds(uploader, sample_jpeg, app, wechat_sandbox, dbx):
    openid = grant(wechat_sandbox)
    job = finish_one_job(uploader, sample_jpeg, app)
    assert job["status"] == "succeeded"
    [message] = messages(wechat_sandbox)
    assert (message["touser"], message["user"], message["template_id"]) == (openid, "alice", TEMPLATE)
    assert message["page"] == f"pages/job/index?id={job['id']}"
    assert message["miniprogram_state"] == "developer"
    finished = dbx.one(select(GenerationJob)).finished_at
    assert message["data"] == {
        "thing1": {"value": "波普艺术"},
        "phrase2": {"value": "完成"},
        "time3": {"value": finished.astimezone(notify.CHINA_TIME).strftime("%Y-%m-%d %H:%M")},
    }


def test_a_failed_job_is_reported_as_failed(uploader, sample_jpeg, app, wechat_sandbox, failing):
    grant(wechat_sandbox)
    job = finish_one_job(uploader, sample_jpeg, app, style="anime")
    assert job["status"] == "failed"
    [message] = messages(wechat_sandbox)
    assert message["data"]["phrase2"] == {"value": "失败"} and message["data"]["thing1"] == {"value": "动漫"}


def test_without_the_users_permission_nothing_is_sent_and_the_job_succeeds(uploader, sample_jpeg, app,
                                                                           wechat_sandbox, caplog):
    with caplog.at_level(logging.INFO, logger="app.generation.notify"):
        job = finish_one_job(uploader, sample_jpeg, app)
    assert job["status"] == "succeeded"
    assert messages(wechat_sandbox) == []
    [record] = [r for r in caplog.records if r.name == "app.generation.notify"]
    assert record.levelno == logging.INFO and "not subscribed" in record.getMessage()


def test_wechat_down_does_not_fail_the_job(uploader, sample_jpeg, app, wechat_sandbox, caplog):
    openid = grant(wechat_sandbox)
    wechat_sandbox.fault(SEND_PATH, "http500", count=5)
    with caplog.at_level(logging.INFO, logger="app.generation.notify"):
        job = finish_one_job(uploader, sample_jpeg, app)
    assert job["status"] == "succeeded" and job["results"]
    assert messages(wechat_sandbox) == []
    [record] = [r for r in caplog.records if r.name == "app.generation.notify"]
    assert record.levelno == logging.WARNING
    assert openid not in caplog.text  # no personal data in the logs


def test_a_wechat_error_does_not_fail_the_job(uploader, sample_jpeg, app, wechat_sandbox):
    grant(wechat_sandbox)
    wechat_sandbox.fault(SEND_PATH, "errcode", errcode=40037, errmsg="invalid template_id")
    assert finish_one_job(uploader, sample_jpeg, app)["status"] == "succeeded"
    assert messages(wechat_sandbox) == []


def test_no_template_configured_no_message(uploader, sample_jpeg, app, wechat_sandbox):
    grant(wechat_sandbox)
    app.config["SUBSCRIBE_TEMPLATE_JOB_DONE"] = None
    try:
        assert finish_one_job(uploader, sample_jpeg, app)["status"] == "succeeded"
    finally:
        del app.config["SUBSCRIBE_TEMPLATE_JOB_DONE"]
    assert messages(wechat_sandbox) == []


def test_configured_template_and_state(uploader, sample_jpeg, app, wechat_sandbox):
    grant(wechat_sandbox, template="tmpl-prod-1")
    app.config.update(SUBSCRIBE_TEMPLATE_JOB_DONE="tmpl-prod-1", SUBSCRIBE_MINIPROGRAM_STATE="trial")
    try:
        finish_one_job(uploader, sample_jpeg, app)
    finally:
        del app.config["SUBSCRIBE_TEMPLATE_JOB_DONE"], app.config["SUBSCRIBE_MINIPROGRAM_STATE"]
    [message] = messages(wechat_sandbox)
    assert (message["template_id"], message["miniprogram_state"]) == ("tmpl-prod-1", "trial")


def test_a_cancelled_job_sends_nothing(uploader, sample_jpeg, wechat_sandbox, app):
    grant(wechat_sandbox)
    created = start_job(uploader, "pop_art", upload_ids(uploader, sample_jpeg))["data"]
    assert uploader.call("POST", f"/api/v1/jobs/{created['id']}/cancel").status_code == 200
    run_generation_queue(app)
    assert messages(wechat_sandbox) == []


@pytest.mark.parametrize(("env", "expected"), [("development", TEMPLATE), ("testing", TEMPLATE), ("production", None)])
def test_template_default_until_configured(app, env, expected):
    with app.app_context():
        previous = app.config["ENV_NAME"]
        app.config["ENV_NAME"] = env
        try:
            assert notify.template_id() == expected
        finally:
            app.config["ENV_NAME"] = previous


def test_finish_time_is_shown_in_china_time(app):
    job = GenerationJob(public_id="abc", style_id="anime", status="succeeded",
                        finished_at=datetime(2026, 11, 28, 17, 5, tzinfo=UTC))
    with app.app_context():
        message = notify.message_for(job, "openid-x", TEMPLATE)
    assert message["data"]["time3"] == {"value": "2026-11-29 01:05"}
    assert message["page"] == "pages/job/index?id=abc"
