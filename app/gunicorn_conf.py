"""gunicorn settings for production: ``gunicorn -c python:app.gunicorn_conf wsgi:app``.

Command-line flags still win (``-w``, ``-b``). What this file adds is what a flag cannot say: the
Prometheus multiprocess hooks (``PROMETHEUS_MULTIPROC_DIR`` must be set in gunicorn's environment, an
empty directory of its own), so ``/metrics`` on any worker reports the sum of all of them. No
``preload_app``: mediapipe cannot run in a process forked after it loaded its models; instead each worker
loads the upload's face detector as it starts (``post_worker_init``), not at its first upload.
"""

import os

from app.monitoring.multiprocess import child_exit, on_starting  # noqa: F401 - gunicorn hooks by name

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# gthread by measurement (bench/README.md, docs/capacity.md): a request waiting on PostgreSQL, Redis or WeChat
# leaves its core to another thread of the same worker, and kept-alive connections from nginx are reused.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
graceful_timeout = 20
accesslog = None  # the app logs each request itself (JSON, with the request id, without query strings)


def post_worker_init(worker) -> None:
    """Each worker, once its app is loaded: the face detector ready before the first upload needs it."""
    config = getattr(worker.wsgi, "config", None)
    if config is not None and config.get("FACE_CHECK_ENABLED"):
        from app.uploads.faces import warm_up

        warm_up()
