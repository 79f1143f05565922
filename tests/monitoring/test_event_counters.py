"""Counters fed by domain events: generation job outcomes and rejected WeChat Pay notifications."""

from __future__ import annotations

import base64
import json
import os
import time
from datetime import timedelta

import pytest

from app.core.db import utcnow
from app.extensions import db
from app.generation import services as generation
from app.generation.models import JobStatus
from app.monitoring import metrics
from tests.generation.conftest import _no_content_check, run_generation_queue, start_job, upload_ids  # noqa: F401
from tests.monitoring.helpers import scrape, value
from tests.monitoring.seed import make_job, make_user
from tests.orders.conftest import NOTIFY_PATH, pay_config  # noqa: F401 - autouse: WeChat Pay against the sandbox

ENDED = "miaohua_generation_jobs_ended_total"
DURATION_COUNT = "miaohua_generation_job_duration_seconds_count"
DURATION_SUM = "miaohua_generation_job_duration_seconds_sum"
REJECTED = "miaohua_payment_notifications_rejected_total"


def current(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


# --- generation jobs ------------------------------------------------------------------------------

def test_a_job_run_by_the_worker_is_counted_with_its_duration(uploader, sample_jpeg, app, client):
    before = scrape(client, app)
    job = start_job(uploader, "pop_art", upload_ids(uploader, sample_jpeg))["data"]
    run_generation_queue(app)
    assert uploader.get(f"/api/v1/jobs/{job['id']}").get_json()["data"]["status"] == "succeeded"
    after = scrape(client, app)
    assert value(after, ENDED, status="succeeded") - value(before, ENDED, status="succeeded") == 1
    assert value(after, ENDED, status="failed") == value(before, ENDED, status="failed")
    assert value(after, DURATION_COUNT, status="succeeded") - value(before, DURATION_COUNT, status="succeeded") == 1
    assert value(after, DURATION_SUM, status="succeeded") > value(before, DURATION_SUM, status="succeeded")


def test_a_job_cancelled_while_queued_counts_without_a_duration(uploader, sample_jpeg, app, client):
    before = scrape(client, app)
    job = start_job(uploader, "pop_art", upload_ids(uploader, sample_jpeg))["data"]
    assert uploader.call("POST", f"/api/v1/jobs/{job['id']}/cancel").status_code == 200
    after = scrape(client, app)
    assert value(after, ENDED, status="cancelled") - value(before, ENDED, status="cancelled") == 1
    assert value(after, DURATION_COUNT, status="cancelled") == value(before, DURATION_COUNT, status="cancelled")


def test_an_end_is_counted_only_when_its_transaction_commits(app_ctx):
    job = make_job(make_user(), status="running")
    job.started_at = utcnow() - timedelta(seconds=42)
    db.session.commit()
    failed, durations, total = (current(ENDED, status="failed"), current(DURATION_COUNT, status="failed"),
                                current(DURATION_SUM, status="failed"))

    generation.finish(job, JobStatus.FAILED, "boom", "rolled back")
    db.session.rollback()  # e.g. the worker crashed before committing: the job will end again later
    db.session.commit()  # a later, unrelated commit must not count the dropped end
    assert current(ENDED, status="failed") == failed

    job = db.session.merge(job)
    generation.finish(job, JobStatus.FAILED, "boom", "committed")
    assert current(ENDED, status="failed") == failed, "not before the commit"
    db.session.commit()
    assert current(ENDED, status="failed") == failed + 1
    assert current(DURATION_COUNT, status="failed") == durations + 1
    assert 41 <= current(DURATION_SUM, status="failed") - total <= 45


# --- WeChat Pay notifications ---------------------------------------------------------------------

def forged_notification(serial: str, *, timestamp: int | None = None, signature: str | None = None):
    """What an attacker without WeChat Pay's private key can send: a plausible body, a made-up signature."""
    body = json.dumps({"id": "EV-forged", "event_type": "TRANSACTION.SUCCESS", "resource_type": "encrypt-resource",
                       "resource": {"algorithm": "AEAD_AES_256_GCM", "ciphertext": "AAAA", "nonce": "n0nce",
                                    "associated_data": "transaction"}}).encode()
    headers = {"Content-Type": "application/json", "Wechatpay-Timestamp": str(timestamp or int(time.time())),
               "Wechatpay-Nonce": "f0rgedn0nce", "Wechatpay-Serial": serial,
               "Wechatpay-Signature": signature or base64.b64encode(os.urandom(256)).decode()}
    return body, headers


@pytest.mark.parametrize(("tamper", "reason"), [
    ("bad_signature", "signature"), ("unknown_serial", "serial"), ("stale_timestamp", "timestamp"),
    ("probe", "probe"), ("missing_signature", "signature"),
])
def test_a_rejected_notification_is_counted_by_reason_class(app, client, tamper, reason):
    serial = app.config["WECHAT_PAY_PUBLIC_KEY_ID"]  # the sandbox merchant's, set by pay_config
    if tamper == "unknown_serial":
        body, headers = forged_notification("PUB_KEY_ID_0000000000000000000000000000000000")
    elif tamper == "stale_timestamp":
        body, headers = forged_notification(serial, timestamp=int(time.time()) - 3600)
    elif tamper == "probe":
        body, headers = forged_notification(serial, signature="WECHATPAY/SIGNTEST/" + "A" * 40)
    else:
        body, headers = forged_notification(serial)
        if tamper == "missing_signature":
            headers.pop("Wechatpay-Signature")
    before = scrape(client, app)
    response = client.post(NOTIFY_PATH, data=body, headers=headers)
    assert response.status_code == 400 and response.get_json() == {"code": "FAIL", "message": "rejected"}
    after = scrape(client, app)
    for label in metrics.REJECTION_REASONS:
        expected = 1 if label == reason else 0
        assert value(after, REJECTED, reason=label) - value(before, REJECTED, reason=label) == expected, label


@pytest.mark.parametrize(("text", "label"), [
    ("missing signature headers", "signature"), ("unknown signature type", "signature"),
    ("bad signature", "signature"), ("probe signature", "probe"), ("malformed timestamp", "timestamp"),
    ("timestamp 600s away", "timestamp"), ("unknown serial", "serial"), ("unknown algorithm", "decrypt"),
    ("cannot decrypt (InvalidTag)", "decrypt"), ("unknown order", "other"),
    ("does not match the order: amount", "other"), ("", "other"),
])
def test_every_rejection_text_maps_to_a_fixed_label(text, label):
    assert metrics.rejection_reason_class(text) == label
