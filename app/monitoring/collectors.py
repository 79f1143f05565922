"""Gauges read at scrape time from PostgreSQL and Redis: queues, deletion backlog, rights requests.

They describe shared state, so they are computed once per scrape by the process that answers it and
are never written to the multiprocess directory — eight gunicorn workers do not report a queue eight
times. The alert thresholds are exported too, so the Prometheus rules in ``docs/monitoring/alerts.yml``
compare against the values this deployment is configured with instead of copies of them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from flask import current_app
from prometheus_client.core import GaugeMetricFamily, Metric

from app.core.db import utcnow
from app.extensions import db

from . import readings

log = logging.getLogger(__name__)


class SharedStateCollector:
    """A prometheus_client collector; needs an app context (the /metrics request provides it)."""

    def collect(self) -> Iterator[Metric]:
        now = utcnow()
        up = GaugeMetricFamily("miaohua_dependency_up", "1 when the backing service answered this scrape.",
                               labels=["dependency"])
        yield from self._queues(now, up)
        yield from self._backlog(now, up)
        yield from self._access_review(now)
        yield up

    def _queues(self, now, up: GaugeMetricFamily) -> Iterator[Metric]:
        try:
            queues = readings.queue_readings(now)
        except Exception as exc:  # redis raises several connection/timeout classes
            log.warning("metrics: queue figures unavailable", extra={"error": type(exc).__name__})
            up.add_metric(["redis"], 0)
            return
        up.add_metric(["redis"], 1)
        depth = GaugeMetricFamily("miaohua_queue_depth", "Jobs waiting in the RQ queue.", labels=["queue"])
        age = GaugeMetricFamily("miaohua_queue_oldest_job_age_seconds",
                                "How long the oldest waiting job has waited (0 when the queue is empty).",
                                labels=["queue"])
        failed = GaugeMetricFamily("miaohua_queue_failed_jobs", "Jobs in the queue's failed registry.",
                                   labels=["queue"])
        threshold = GaugeMetricFamily("miaohua_queue_age_alert_threshold_seconds",
                                      "Configured ALERT_QUEUE_AGE_S for the queue.", labels=["queue"])
        limits = current_app.config["ALERT_QUEUE_AGE_S"]
        for name, reading in queues.items():
            depth.add_metric([name], reading.depth)
            age.add_metric([name], reading.oldest_age_s or 0.0)
            failed.add_metric([name], reading.failed)
            if name in limits:
                threshold.add_metric([name], limits[name])
        yield from (depth, age, failed, threshold)

    def _backlog(self, now, up: GaugeMetricFamily) -> Iterator[Metric]:
        try:
            backlog = readings.deletion_backlog(now)
            rights = readings.rights_requests(now)
        except Exception as exc:  # the database is down or refused: report it, keep the rest of the scrape
            db.session.rollback()
            log.warning("metrics: database figures unavailable", extra={"error": type(exc).__name__})
            up.add_metric(["database"], 0)
            return
        up.add_metric(["database"], 1)
        items = GaugeMetricFamily("miaohua_deletion_backlog_items",
                                  "Things that must be deleted and are not yet: sources of ended jobs, unclaimed "
                                  "uploads past their TTL, pending rights requests.", labels=["kind"])
        age = GaugeMetricFamily("miaohua_deletion_backlog_oldest_age_seconds",
                                "How late the oldest item is (photos: since they had to be gone; rights "
                                "requests: since they were made); 0 when there is none.", labels=["kind"])
        for kind, reading in backlog.items():
            items.add_metric([kind], reading.count)
            age.add_metric([kind], reading.oldest_age_s or 0.0)
        items.add_metric(["rights_requests"], rights.pending)
        age.add_metric(["rights_requests"], rights.oldest_age_s or 0.0)
        overdue = GaugeMetricFamily("miaohua_rights_requests_overdue",
                                    "Rights requests pending past their due date (15 working days).")
        overdue.add_metric([], rights.overdue)
        threshold = GaugeMetricFamily("miaohua_deletion_backlog_alert_threshold_seconds",
                                      "Configured ALERT_DELETION_BACKLOG_AGE_S (the sweep interval).")
        threshold.add_metric([], current_app.config["ALERT_DELETION_BACKLOG_AGE_S"])
        yield from (items, age, overdue, threshold)

    def _access_review(self, now) -> Iterator[Metric]:
        """§7: how long since the last recorded access review (since the first staff account if none)."""
        from app.staff import access_review

        try:
            since = access_review.last_review_at() or access_review.first_account_created_at()
        except Exception as exc:  # reported as database down by _backlog already
            db.session.rollback()
            log.warning("metrics: access review figures unavailable", extra={"error": type(exc).__name__})
            return
        age = GaugeMetricFamily("miaohua_staff_access_review_age_seconds",
                                "Seconds since the last recorded staff access review (since the first staff "
                                "account when there was none; 0 without staff accounts).")
        age.add_metric([], max(0.0, (now - since).total_seconds()) if since else 0.0)
        period = GaugeMetricFamily("miaohua_staff_access_review_period_seconds",
                                   "Configured STAFF_ACCESS_REVIEW_PERIOD_DAYS, in seconds.")
        period.add_metric([], access_review.period().total_seconds())
        yield from (age, period)
