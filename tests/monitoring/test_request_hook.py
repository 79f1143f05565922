"""The request hook's pre-bound label children: counts land in the right series, and the bindings stay bounded."""

from __future__ import annotations

from app.monitoring import metrics
from tests.monitoring.helpers import scrape, value

COUNTER = "miaohua_http_requests_total"
LATENCY = "miaohua_http_request_duration_seconds_count"
ROUTE = "/api/v1/policy/versions/<version_id>"


def test_one_route_counts_each_status_class_in_its_own_series(app, client):
    before = scrape(client, app)
    for _ in range(3):
        assert client.get("/api/v1/policy/versions/2024-07-04").status_code == 200
    for _ in range(2):
        assert client.get("/api/v1/policy/versions/no-such-version").status_code == 404
    assert client.head("/api/v1/policy/versions/2024-07-04").status_code == 200
    after = scrape(client, app)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta(COUNTER, method="GET", route=ROUTE, status="2xx") == 3
    assert delta(COUNTER, method="GET", route=ROUTE, status="4xx") == 2
    assert delta(COUNTER, method="HEAD", route=ROUTE, status="2xx") == 1
    assert delta(LATENCY, route=ROUTE) == 6  # one histogram series per route, whatever the method or status


def test_raw_paths_and_odd_methods_never_add_bindings(app, client):
    client.get("/no/such/page-0")
    client.open("/healthz", method="BREW")
    bound = set(metrics._BOUND)
    for i in range(1, 30):
        assert client.get(f"/no/such/page-{i}").status_code == 404
        client.open("/healthz", method=f"BREW{i}")
    assert set(metrics._BOUND) == bound
    assert all(route == metrics.UNMATCHED_ROUTE or route.startswith("/") for route, _method, _status in bound)
    assert {method for _route, method, _status in bound} <= metrics.KNOWN_METHODS | {"other"}
