"""The deployment as it ships, end to end behind TLS (issue #19): `.ci/run` runs this on every submission.

The production profile (``MIAOHUA_ENV=staging``: production but for the WeChat sandbox) on real
PostgreSQL and Redis, an S3-compatible store, gunicorn, separate worker and scheduler processes and
Debian's nginx terminating TLS with a throwaway CA, every process started by deploy/entrypoint.sh. The
mini-program's journey runs through ``https://``: login, phone, consent, upload, job, order, the payment
notification (sent by the sandbox over https), export and cancellation.

Needs nginx, PostgreSQL and Redis: ``SMOKE_DATABASE_URL`` (a database it may drop and recreate) and
``SMOKE_REDIS_URL`` (a database it flushes); skipped with the reason otherwise.
"""

from __future__ import annotations

import os
import shutil

import pytest
import requests

from app.staff.passwords import password_problem
from tests.deploy.stack import ROOT, ProductionStack

SMOKE_DATABASE_URL = os.environ.get("SMOKE_DATABASE_URL", "")
SMOKE_REDIS_URL = os.environ.get("SMOKE_REDIS_URL", "")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not shutil.which("nginx") and not os.path.exists("/usr/sbin/nginx"),
                       reason="needs nginx (Debian: apt-get install nginx-light; .ci/run installs it)"),
    pytest.mark.skipif(not (SMOKE_DATABASE_URL.startswith("postgresql") and SMOKE_REDIS_URL.startswith("redis")),
                       reason="needs SMOKE_DATABASE_URL=postgresql://… and SMOKE_REDIS_URL=redis://… (.ci/run)"),
]


def fresh_database(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    target = make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    from app.core.jobs import connect_redis

    fresh_database(SMOKE_DATABASE_URL)
    connect_redis(SMOKE_REDIS_URL).flushdb()
    folder = tmp_path_factory.mktemp("production")
    stack = ProductionStack(folder, SMOKE_DATABASE_URL, SMOKE_REDIS_URL)
    try:
        stack.start()
        yield stack
    except BaseException:
        print(stack.tails())
        raise
    finally:
        stack.stop()


@pytest.fixture
def https(stack):
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would override `verify`
    session.verify = str(stack.ca)
    return session


def test_the_mini_program_journey_runs_through_https(stack, tmp_path, monkeypatch):
    from devkit.demo.journey import Journey, JourneyOptions

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(stack.ca))  # the phone trusts the site's CA
    options = JourneyOptions(out_dir=tmp_path, photo=ROOT / "tests" / "data" / "portrait-astronaut.png",
                             base_url=stack.base_url, sandbox_url=stack.sandbox_url, style="anime", timeout_s=240)
    try:
        report = Journey(options, echo=print).run()
    except Exception:
        print(stack.tails())
        raise
    assert report.completed and report.cancelled
    assert report.order_no and report.hd_size
    assert report.export.get("state") == "ready", report.export
    assert report.source_receipt  # the source photo was deleted when the job ended


def test_https_answers_carry_hsts_and_say_staging(stack, https):
    response = https.get(f"{stack.base_url}/healthz")
    assert response.status_code == 200
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert response.headers["X-Miaohua-Environment"] == "staging"
    missing = https.get(f"{stack.base_url}/api/v1/no-such-route")  # the app's own 404, still with HSTS
    assert missing.status_code == 404 and "Strict-Transport-Security" in missing.headers


def test_plain_http_redirects_and_payment_callbacks_over_http_are_refused(stack):
    plain = f"http://127.0.0.1:{stack.http_port}"
    redirect = requests.get(f"{plain}/api/v1/styles", allow_redirects=False, timeout=5)
    assert redirect.status_code == 301
    assert redirect.headers["Location"].startswith("https://")
    for path in ("/api/v1/payments/wechat/notify", "/api/v1/payments/wechat/refund-notify", "/api/v1/wechat/push"):
        assert requests.post(f"{plain}{path}", data=b"{}", timeout=5).status_code == 403
    # Straight to gunicorn (no proxy saying https): the app refuses the callback itself.
    direct = requests.post(f"http://127.0.0.1:{stack.web_port}/api/v1/payments/wechat/notify", data=b"{}", timeout=5)
    assert (direct.status_code, direct.json()) == (403, {"code": "FAIL", "message": "https only"})


def test_the_staff_console_cookie_is_secure(stack, https):
    password = "smoke test staff passphrase 7"
    assert password_problem(password, "smoke-admin") is None
    stack.run_entrypoint("flask", "staff", "create-admin", "smoke-admin", "--password-stdin", stdin=password + "\n")
    response = https.post(f"{stack.base_url}/admin/api/session", json={"username": "smoke-admin", "password": password})
    assert response.status_code == 200, response.text
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie


def test_metrics_need_the_token_and_report_every_gunicorn_worker(stack, https):
    assert https.get(f"{stack.base_url}/metrics").status_code in (401, 403, 404)
    metrics = https.get(f"{stack.base_url}/metrics", headers={"Authorization": f"Bearer {stack.env['METRICS_TOKEN']}"})
    assert metrics.status_code == 200
    assert "http_requests_total" in metrics.text or "miaohua_" in metrics.text
