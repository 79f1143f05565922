"""Scraping /metrics in tests and reading single samples out of the Prometheus text."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def scrape_text(client, app) -> str:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {app.config['METRICS_TOKEN']}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the page, keyed by (sample name, sorted labels); parsing fails on bad text."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(page: dict, name: str, **labels: str) -> float:
    """One sample's value (0 when the series does not exist yet)."""
    return page.get((name, tuple(sorted(labels.items()))), 0.0)


def scrape(client, app) -> dict:
    return samples(scrape_text(client, app))
