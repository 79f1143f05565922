"""Worker classes that run each job inside the Flask app context.

- ``AppWorker`` forks a work horse per job (production). The parent disposes the SQLAlchemy engine
  before forking so a child never shares the parent's pooled database connections. For the generation queue,
  ``python -m workers`` first imports the job's model stack (never its models: ``workers/preload.py``), so
  the work horses inherit it.
- ``AppSimpleWorker`` runs jobs in its own process (tests: nothing forks).
"""

from __future__ import annotations

import logging

from flask import Flask
from rq import SimpleWorker, Worker
from rq.job import Job
from rq.queue import Queue

from app.extensions import db

log = logging.getLogger(__name__)


class AppContextMixin:
    flask_app: Flask

    def perform_job(self, job: Job, queue: Queue) -> bool:
        with self.flask_app.app_context():
            try:
                return super().perform_job(job, queue)  # type: ignore[misc]
            finally:
                db.session.remove()


class AppWorker(AppContextMixin, Worker):
    def __init__(self, *args, flask_app: Flask, **kwargs) -> None:
        self.flask_app = flask_app
        super().__init__(*args, **kwargs)

    def execute_job(self, job: Job, queue: Queue) -> None:
        with self.flask_app.app_context():
            db.engine.dispose()
        super().execute_job(job, queue)


class AppSimpleWorker(AppContextMixin, SimpleWorker):
    def __init__(self, *args, flask_app: Flask, **kwargs) -> None:
        self.flask_app = flask_app
        super().__init__(*args, **kwargs)
