"""The staff dashboard's view of the system (``GET /admin/api/dashboard`` returns ``snapshot()``).

Computed from PostgreSQL and Redis on each call — not from this process's Prometheus counters — so
it is the same whichever gunicorn worker answers. The alerts apply the thresholds documented in
``docs/monitoring/README.md`` (the same ones ``docs/monitoring/alerts.yml`` gives Prometheus):

- ``deletion_backlog``: photos that had to be deleted (sources of an ended job, unclaimed uploads
  past their TTL) are still stored more than ``ALERT_DELETION_BACKLOG_AGE_S`` later (the sweep
  interval: the privacy policy promises sources are gone when the job ends);
- ``queue_age``: a queue's oldest waiting job is older than ``ALERT_QUEUE_AGE_S[queue]``;
- ``rights_request_overdue``: a rights request is pending past its due date (§8: 15 working days);
- ``queue_unavailable``: Redis did not answer, so queue figures are missing.

The snapshot contains counts and ages only: no user, no id, nothing personal.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app

from app.core.db import utcnow

from . import readings

log = logging.getLogger(__name__)


def snapshot() -> dict[str, Any]:
    """``{"queues", "jobs", "deletion_backlog", "rights_requests", "alerts"}``; needs an app context."""
    config = current_app.config
    now = utcnow()
    alerts: list[dict[str, Any]] = []

    queues: dict[str, dict[str, Any]] = {}
    try:
        for name, reading in readings.queue_readings(now).items():
            queues[name] = {"depth": reading.depth, "oldest_age_s": _round(reading.oldest_age_s),
                            "failed": reading.failed}
            limit = config["ALERT_QUEUE_AGE_S"].get(name)
            if limit is not None and reading.oldest_age_s is not None and reading.oldest_age_s > limit:
                alerts.append({"name": "queue_age", "queue": name,
                               "message": f"The oldest job in queue {name!r} has waited "
                                          f"{reading.oldest_age_s:.0f}s (threshold {limit}s): "
                                          "workers are missing, stuck or too few."})
    except Exception as exc:  # redis raises several connection/timeout classes
        log.warning("queue figures unavailable", extra={"error": type(exc).__name__})
        queues = {}
        alerts.append({"name": "queue_unavailable",
                       "message": f"Redis did not answer ({type(exc).__name__}); queue figures are missing."})

    jobs = readings.jobs_reading(now=now)
    backlog = readings.deletion_backlog(now)
    count = sum(r.count for r in backlog.values())
    ages = [r.oldest_age_s for r in backlog.values() if r.oldest_age_s is not None]
    oldest = max(ages) if ages else None
    backlog_limit = config["ALERT_DELETION_BACKLOG_AGE_S"]
    backlog_alert = oldest is not None and oldest > backlog_limit
    if backlog_alert:
        alerts.append({"name": "deletion_backlog",
                       "message": f"{count} photo(s) that had to be deleted are still stored, the oldest "
                                  f"{oldest:.0f}s late (threshold {backlog_limit}s): check the maintenance "
                                  "worker and the object store."})
    rights = readings.rights_requests(now)
    if rights.overdue:
        alerts.append({"name": "rights_request_overdue",
                       "message": f"{rights.overdue} rights request(s) are past their due date "
                                  "(15 working days): answer them now."})
    return {
        "queues": queues,
        "jobs": {"last_hour": jobs.ended_by_status, "in_progress": jobs.in_progress,
                 "latency_p50_s": jobs.latency_p50_s, "latency_p95_s": jobs.latency_p95_s},
        "deletion_backlog": {"count": count, "oldest_age_s": _round(oldest), "alert": backlog_alert,
                             "threshold_s": backlog_limit,
                             "by_kind": {kind: {"count": r.count, "oldest_age_s": _round(r.oldest_age_s)}
                                         for kind, r in backlog.items()}},
        "rights_requests": {"pending": rights.pending, "overdue": rights.overdue},
        "alerts": alerts,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
