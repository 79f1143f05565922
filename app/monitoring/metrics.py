"""The metrics this process records (counters and histograms), and how their labels are chosen.

Labels are bounded by construction — a route template, never a raw path; an HTTP method from a fixed
list; a status class; a job status; one of six rejection reasons — so no id, token or personal value
can reach Prometheus and no client can inflate the number of series.

Under gunicorn with several workers, set ``PROMETHEUS_MULTIPROC_DIR`` before the app is imported:
prometheus_client then keeps every value in a per-process file there and ``/metrics`` adds them up
(see ``app/monitoring/multiprocess.py``). Without it, the values live in this process's ``REGISTRY``.
Gauges about shared state (queues, deletion backlog) are not here: they are read at scrape time by
``app/monitoring/collectors.py``, once per scrape, whichever process answers.
"""

from __future__ import annotations

import time

from flask import Flask, Response, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics

# The ``*_created`` timestamp series double the page for nothing Prometheus needs (it detects resets).
disable_created_metrics()
REGISTRY = CollectorRegistry(auto_describe=True)

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"  # 404/405 before routing: the path could be anything a client typed

HTTP_REQUESTS = Counter("miaohua_http_requests", "HTTP requests answered, by method, route template and status "
                        "class.", ["method", "route", "status"], registry=REGISTRY)
HTTP_LATENCY = Histogram("miaohua_http_request_duration_seconds", "Time to answer a request, by route template.",
                         ["route"], registry=REGISTRY,
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))

JOB_STATUSES = ("succeeded", "failed", "cancelled")
GENERATION_JOBS_ENDED = Counter("miaohua_generation_jobs_ended", "Generation jobs that ended, by outcome.",
                                ["status"], registry=REGISTRY)
GENERATION_JOB_DURATION = Histogram("miaohua_generation_job_duration_seconds",
                                    "Run time of generation jobs (started → finished), by outcome.", ["status"],
                                    registry=REGISTRY,
                                    buckets=(1, 2, 5, 10, 20, 30, 60, 120, 180, 300, 600, 1200))

REJECTION_REASONS = ("signature", "timestamp", "serial", "decrypt", "probe", "other")
PAYMENT_NOTIFICATIONS_REJECTED = Counter("miaohua_payment_notifications_rejected",
                                         "WeChat Pay notifications that failed verification, by reason class.",
                                         ["reason"], registry=REGISTRY)

# Every label value exists from the start at 0, so rate() and increase() see the first event.
for _status in JOB_STATUSES:
    GENERATION_JOBS_ENDED.labels(status=_status)
    GENERATION_JOB_DURATION.labels(status=_status)
for _reason in REJECTION_REASONS:
    PAYMENT_NOTIFICATIONS_REJECTED.labels(reason=_reason)


def rejection_reason_class(reason: str) -> str:
    """Map ``NotificationRejected``'s free text (``app/orders/wechatpay.py``) to one of REJECTION_REASONS."""
    text = (reason or "").lower()
    if "probe" in text:
        return "probe"
    if "serial" in text:
        return "serial"
    if "timestamp" in text:
        return "timestamp"
    if "decrypt" in text or "algorithm" in text:
        return "decrypt"
    if "signature" in text:
        return "signature"
    return "other"


def status_class(status_code: int) -> str:
    return f"{status_code // 100}xx" if 100 <= status_code <= 599 else "other"


def route_label() -> str:
    """The matched URL rule (``/api/v1/jobs/<public_id>``), never the path the client sent."""
    rule = request.url_rule
    return rule.rule if rule is not None else UNMATCHED_ROUTE


# (route template, method, status code) → the counter's and the histogram's children for that request.
# ``labels()`` validates, joins and looks up its label values under a lock on every call; binding each
# combination once takes that off the request path. The keys are as bounded as the labels themselves
# (the app's rules × KNOWN_METHODS + "other" × the status codes the app answers). The children are the
# ones ``labels()`` returns, so after a fork (gunicorn workers) prometheus_client still moves their values
# to the new process's files, as it does for any child.
_BOUND: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def _bound_children(route: str, method: str, status_code: int) -> tuple[Counter, Histogram]:
    key = (route, method, status_code)
    children = _BOUND.get(key)
    if children is None:
        children = (HTTP_REQUESTS.labels(method=method, route=route, status=status_class(status_code)),
                    HTTP_LATENCY.labels(route=route))
        _BOUND[key] = children  # two threads may both bind: labels() gives both the same children
    return children


def observe_request(response: Response) -> Response:
    ctx_request = request._get_current_object()  # one proxy lookup for the three reads below
    rule = ctx_request.url_rule
    method = ctx_request.method
    requests_child, latency_child = _bound_children(rule.rule if rule is not None else UNMATCHED_ROUTE,
                                                    method if method in KNOWN_METHODS else "other",
                                                    response.status_code)
    requests_child.inc()
    started = g.get("request_started")  # set first thing by app.core.api's before_request hook
    if started is not None:
        latency_child.observe(time.perf_counter() - started)
    return response


def init_app(app: Flask) -> None:
    app.after_request(observe_request)
