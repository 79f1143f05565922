"""Background jobs on RQ: named queues, tasks, and enqueue-after-commit.

Rules every task follows (see docs/generation.md, "Jobs"):
- a task's arguments are ids (int or str), never ORM objects: the row is the source of truth and
  the worker reloads it;
- a job is enqueued only after the database transaction that created its row commits, so a worker
  never looks for a row that does not exist yet, and a rolled-back request leaves no job behind;
- each task has a hard time limit and a failure TTL, and must be idempotent (it may run twice).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from redis import Redis
from rq import Queue
from rq.job import Job
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.core.errors import QueueUnavailable

log = logging.getLogger(__name__)

_FAKE_SERVERS: dict[str, Any] = {}

GENERATION_QUEUE = "generation"  # long model runs; its own workers so they never delay the rest
DEFAULT_QUEUE = "default"  # short user-facing work: exports, notifications
MAINTENANCE_QUEUE = "maintenance"  # sweeps: deletions, expiry, reconciliation
QUEUE_NAMES = (GENERATION_QUEUE, DEFAULT_QUEUE, MAINTENANCE_QUEUE)

_PENDING_KEY = "miaohua_pending_jobs"


@dataclass(frozen=True)
class Task:
    """A function runnable by a worker, with its queue and limits."""

    func: Callable[..., Any]
    queue: str
    timeout: int | str | None  # seconds, or the name of the config setting that holds them
    failure_ttl: int | None
    # Called with a transactional pipeline holding RQ's push and the RQ job id, before it executes: what
    # must happen atomically with the push (the generation queue's sequence numbers, app/generation/positions.py).
    on_enqueue: Callable[[Any, str], None] | None = None

    @property
    def path(self) -> str:
        return f"{self.func.__module__}.{self.func.__name__}"

    def __call__(self, *args: Any) -> Any:
        return self.func(*args)

    def timeout_seconds(self, config: Any) -> int:
        timeout = config[self.timeout] if isinstance(self.timeout, str) else self.timeout
        return timeout or config["JOB_DEFAULT_TIMEOUT"]

    def enqueue_after_commit(self, *ids: int | str, job_id: str | None = None) -> str:
        return enqueue_after_commit(self, *ids, job_id=job_id)


def task(queue: str = DEFAULT_QUEUE, *, timeout: int | str | None = None, failure_ttl: int | None = None,
         on_enqueue: Callable[[Any, str], None] | None = None) -> Callable[[Callable], Task]:
    """Declare a task. ``timeout``/``failure_ttl`` default to JOB_DEFAULT_TIMEOUT / JOB_FAILURE_TTL."""
    if queue not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {queue!r}; declare it in QUEUE_NAMES")

    def decorate(func: Callable) -> Task:
        return Task(func=func, queue=queue, timeout=timeout, failure_ttl=failure_ttl, on_enqueue=on_enqueue)

    return decorate


def _check_ids(ids: tuple[Any, ...]) -> None:
    for value in ids:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise TypeError(f"job arguments must be ids (int or str), got {type(value).__name__}")


# --- connections --------------------------------------------------------------------------------

def redis_connection(app: Flask | None = None) -> Redis:
    """The app's Redis connection (created once per app, lazily: nothing connects at import)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    conn = app.extensions.get("redis")
    if conn is None:
        conn = app.extensions["redis"] = connect_redis(app.config["REDIS_URL_EFFECTIVE"],
                                                       app.config["REDIS_SOCKET_TIMEOUT"])
    return conn


def connect_redis(url: str, socket_timeout: float = 5.0) -> Redis:
    if url.startswith("fakeredis://"):
        import fakeredis

        # One in-process server per URL, so every connection in this process sees the same data.
        server = _FAKE_SERVERS.setdefault(url, fakeredis.FakeServer())
        return fakeredis.FakeRedis(server=server)
    return Redis.from_url(url, socket_timeout=socket_timeout, socket_connect_timeout=min(socket_timeout, 2.0),
                          health_check_interval=30)


def get_queue(name: str, connection: Redis | None = None) -> Queue:
    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=connection or redis_connection())


def require_queue() -> None:
    """Fail fast, before writing anything, when the queue cannot take a job (503 queue_unavailable)."""
    try:
        redis_connection().ping()
    except Exception as exc:  # redis raises several connection/timeout classes
        raise QueueUnavailable() from exc


# --- enqueue after commit -----------------------------------------------------------------------

@dataclass(frozen=True)
class PendingJob:
    task: Task
    ids: tuple[int | str, ...]
    job_id: str


def enqueue_after_commit(task_: Task, *ids: int | str, job_id: str | None = None) -> str:
    """Schedule ``task_(*ids)`` for when the current transaction commits; returns the RQ job id.

    The id is known before the commit so the domain row can store it in the same transaction.
    """
    from app.extensions import db

    _check_ids(ids)
    job_id = job_id or uuid.uuid4().hex
    db.session().info.setdefault(_PENDING_KEY, []).append(PendingJob(task_, tuple(ids), job_id))
    return job_id


def enqueue_now(task_: Task, *ids: int | str, job_id: str | None = None,
                connection: Redis | None = None) -> Job:
    """Enqueue at once: for jobs with no database row to wait for (CLI, sweeps, schedulers)."""
    _check_ids(ids)
    config = current_app.config
    queue = get_queue(task_.queue, connection)
    pipe = queue.connection.pipeline() if task_.on_enqueue is not None else None
    job = queue.enqueue_call(
        func=task_.path,
        args=ids,
        timeout=task_.timeout_seconds(config),
        failure_ttl=task_.failure_ttl or config["JOB_FAILURE_TTL"],
        result_ttl=config["JOB_RESULT_TTL"],
        job_id=job_id,
        description=f"{task_.path}{ids}",
        pipeline=pipe,
    )
    if pipe is not None:
        task_.on_enqueue(pipe, job.id)
        pipe.execute()  # MULTI/EXEC: RQ's push and the hook's commands, together
    return job


@event.listens_for(Session, "after_commit")
def _enqueue_pending(session: Session) -> None:
    pending: list[PendingJob] = session.info.pop(_PENDING_KEY, [])
    for job in pending:
        try:
            enqueue_now(job.task, *job.ids, job_id=job.job_id)
        except Exception:
            # The row is committed and carries the job id; the domain's sweep re-enqueues rows whose
            # job never reached the queue. Callers use require_queue() first to make this rare.
            log.exception("enqueue after commit failed", extra={"task": job.task.path, "job_id": job.job_id})


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.nested:
        return  # a savepoint rolled back; the outer transaction (and its jobs) may still commit
    session.info.pop(_PENDING_KEY, None)


def init_app(app: Flask) -> None:
    app.config["REDIS_URL_EFFECTIVE"] = app.config.get("REDIS_URL") or (
        f"redis://127.0.0.1:{app.config['EMBEDDED_REDIS_PORT']}/0"
    )
