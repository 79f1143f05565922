"""/metrics: who may read it, that it is valid Prometheus text, and what the request and state metrics say."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.core.jobs import QUEUE_NAMES
from tests.accounts.helpers import Db
from tests.monitoring.helpers import scrape, scrape_text, value
from tests.monitoring.seed import ended_job_with_source, enqueue_aged, make_user, rights_request

TOKEN_HEADER = "Authorization"


def test_without_a_configured_token_it_answers_like_an_unknown_url(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", None)
    hidden = client.get("/metrics", headers={TOKEN_HEADER: "Bearer dev-metrics-token"})
    unknown = client.get("/no-such-page")
    assert hidden.status_code == unknown.status_code == 404
    strip = lambda body: {k: v for k, v in body["error"].items() if k != "request_id"}  # noqa: E731
    assert strip(hidden.get_json()) == strip(unknown.get_json())


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", "Bearer ", "Basic dev-metrics-token",
                                    "dev-metrics-token", "Bearer dev-metrics-token-and-more"])
def test_a_missing_or_wrong_token_is_refused(app, client, monkeypatch, header):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", "dev-metrics-token")
    response = client.get("/metrics", headers={TOKEN_HEADER: header} if header else {})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "metrics_authentication_required"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "miaohua_" not in response.get_data(as_text=True)


def test_the_right_token_gets_prometheus_text(app, client):
    response = client.get("/metrics", headers={TOKEN_HEADER: f"Bearer {app.config['METRICS_TOKEN']}"})
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=")
    assert response.headers["Cache-Control"] == "no-store"
    families = {f.name for f in text_string_to_metric_families(response.get_data(as_text=True))}
    assert {"miaohua_http_requests", "miaohua_http_request_duration_seconds", "miaohua_queue_depth",
            "miaohua_queue_oldest_job_age_seconds", "miaohua_queue_failed_jobs", "miaohua_generation_jobs_ended",
            "miaohua_generation_job_duration_seconds", "miaohua_deletion_backlog_items",
            "miaohua_deletion_backlog_oldest_age_seconds", "miaohua_payment_notifications_rejected",
            "miaohua_rights_requests_overdue", "miaohua_dependency_up"} <= families


def test_requests_are_counted_by_route_template_never_by_path(app, client):
    secret_id = "f3a9c1d2e4b5a6978877665544332211"
    before = scrape(client, app)
    assert client.get(f"/api/v1/policy/versions/{secret_id}").status_code == 404  # matched route, unknown id
    assert client.get(f"/no/such/{secret_id}").status_code == 404  # no route at all
    assert client.get("/healthz").status_code == 200
    text = scrape_text(client, app)
    after = scrape(client, app)
    assert secret_id not in text, "an id from the path must never become a label"
    route = "/api/v1/policy/versions/<version_id>"
    counter = "miaohua_http_requests_total"
    assert value(after, counter, method="GET", route=route, status="4xx") - \
        value(before, counter, method="GET", route=route, status="4xx") == 1
    assert value(after, counter, method="GET", route="unmatched", status="4xx") - \
        value(before, counter, method="GET", route="unmatched", status="4xx") == 1
    assert value(after, counter, method="GET", route="/healthz", status="2xx") - \
        value(before, counter, method="GET", route="/healthz", status="2xx") == 1
    latency = "miaohua_http_request_duration_seconds_count"
    assert value(after, latency, route="/healthz") - value(before, latency, route="/healthz") == 1


def test_an_unknown_http_method_does_not_become_a_label(app, client):
    client.open("/healthz", method="BREW")
    text = scrape_text(client, app)
    assert 'method="BREW"' not in text
    assert 'method="other"' in text


def test_queue_gauges_reflect_enqueued_jobs(app, client):
    Db(app).run(lambda _: (enqueue_aged("generation", timedelta(minutes=3)),
                           enqueue_aged("generation", timedelta(seconds=5))))
    page = scrape(client, app)
    assert value(page, "miaohua_queue_depth", queue="generation") == 2
    assert 179 <= value(page, "miaohua_queue_oldest_job_age_seconds", queue="generation") <= 190
    assert value(page, "miaohua_queue_depth", queue="default") == 0
    assert value(page, "miaohua_queue_age_alert_threshold_seconds", queue="generation") == 15 * 60
    assert value(page, "miaohua_dependency_up", dependency="redis") == 1
    depth_series = [line for line in scrape_text(client, app).splitlines() if line.startswith("miaohua_queue_depth{")]
    assert len(depth_series) == len(QUEUE_NAMES), "one series per queue, whoever answers the scrape"


def test_deletion_backlog_gauges_count_an_undeleted_source_of_an_ended_job(app, client):
    def seed(session):
        user = make_user()
        ended_job_with_source(user, ended_ago=timedelta(minutes=8))
        rights_request(user.id, due_in=-timedelta(days=1))
        session.commit()

    Db(app).run(seed)
    page = scrape(client, app)
    assert value(page, "miaohua_deletion_backlog_items", kind="job_sources") == 1
    age = value(page, "miaohua_deletion_backlog_oldest_age_seconds", kind="job_sources")
    threshold = value(page, "miaohua_deletion_backlog_alert_threshold_seconds")
    assert threshold == app.config["ALERT_DELETION_BACKLOG_AGE_S"] == 300
    assert 479 <= age <= 490 and age > threshold, "the documented alert (age > threshold) fires"
    assert value(page, "miaohua_deletion_backlog_items", kind="rights_requests") == 1
    assert value(page, "miaohua_rights_requests_overdue") == 1
    assert value(page, "miaohua_dependency_up", dependency="database") == 1
