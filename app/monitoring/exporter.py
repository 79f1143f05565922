"""A worker's own ``/metrics``: job outcomes and durations are recorded where jobs run.

An RQ worker forks a work horse per job, and the horse is the process that ends the job and counts
it, so a forking worker needs ``PROMETHEUS_MULTIPROC_DIR`` (its own directory) for the horses'
counts to outlive them; the worker's main process then serves their sum here, with the same bearer
token as the web's ``/metrics``. Queue and backlog gauges are not repeated here: the web's scrape
reports those once. ``python -m workers --metrics-port 9101`` starts it (docs/staff.md: "Monitoring and alerts").
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from prometheus_client import CONTENT_TYPE_LATEST
from werkzeug.serving import BaseWSGIServer, make_server

from .multiprocess import clear_multiprocess_dir, multiprocess_enabled, scrape
from .views import check_metrics_token

log = logging.getLogger(__name__)


class ExporterMisconfigured(RuntimeError):
    pass


def metrics_wsgi_app(token: str) -> Callable[..., Iterable[bytes]]:
    def serve(environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        if not check_metrics_token(environ.get("HTTP_AUTHORIZATION"), token):
            start_response("401 Unauthorized", [("Content-Type", "application/json"),
                                                ("WWW-Authenticate", 'Bearer realm="metrics"')])
            return [b'{"error": {"code": "metrics_authentication_required", '
                    b'"message": "Send the metrics token as a Bearer token."}}']
        body = scrape(include_shared_state=False)
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Cache-Control", "no-store")])
        return [body]

    return serve


def start_worker_exporter(app: Flask, port: int, *, host: str = "0.0.0.0", forking: bool = True) -> BaseWSGIServer:
    """Serve this worker's metrics on ``host:port`` from a daemon thread; returns the server."""
    token = app.config.get("METRICS_TOKEN")
    if not token:
        raise ExporterMisconfigured("METRICS_TOKEN is not set: worker metrics would be public")
    if forking and not multiprocess_enabled():
        raise ExporterMisconfigured("a forking worker counts jobs in its work horses: set PROMETHEUS_MULTIPROC_DIR "
                                    "(a directory of its own) or run with --simple")
    if multiprocess_enabled():
        clear_multiprocess_dir(keep_pid=os.getpid())  # the previous run's horses are not this run's
    server = make_server(host, port, metrics_wsgi_app(token), threaded=True)
    threading.Thread(target=server.serve_forever, name="metrics-exporter", daemon=True).start()
    log.info("worker metrics exporter listening", extra={"host": host, "port": server.server_port})
    return server
