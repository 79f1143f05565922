"""Monitoring (policy §7): Prometheus metrics at ``/metrics`` and the staff dashboard's ``snapshot()``.

- ``metrics``: what each process records (requests, latencies, job outcomes, rejected notifications);
- ``events``: the domain events counted; ``collectors``: gauges read from the database and Redis at
  scrape time; ``readings``: those reads, shared with ``snapshot``; ``multiprocess``: gunicorn wiring;
- ``views``: the token-protected ``/metrics``; ``exporter``: the same page for an RQ worker process.

See ``docs/monitoring/README.md`` for the metrics, the alert thresholds and what an operator does.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register ``/metrics``, the request hook and the event subscriptions (``bp`` is consent-exempt)."""
    from . import events, metrics, views

    app.register_blueprint(views.bp)
    metrics.init_app(app)
    events.connect()
