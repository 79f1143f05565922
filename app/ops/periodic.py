"""Periodic jobs, declared in one registry with stable ids, run by RQ's cron scheduler.

``python -m workers.scheduler`` runs the scheduler (one per deployment is enough; more are
harmless: RQ's scheduler coordinates through Redis). ``make run`` runs it in a thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask
from redis import Redis
from rq.cron import CronScheduler

from app.core.jobs import Task
from app.generation.tasks import sweep_generation_jobs
from app.ops.tasks import purge_idempotency_keys
from app.orders.tasks import reconcile_orders
from app.privacy.retention_tasks import run_retention_sweep
from app.uploads.tasks import sweep_uploads


@dataclass(frozen=True)
class PeriodicJob:
    id: str  # stable: RQ keys its bookkeeping by it
    task: Task
    interval_setting: str  # the config key holding the interval in seconds


PERIODIC_JOBS = (
    PeriodicJob("uploads.sweep", sweep_uploads, "SWEEP_UPLOADS_INTERVAL_S"),
    PeriodicJob("generation.sweep", sweep_generation_jobs, "SWEEP_GENERATION_INTERVAL_S"),
    PeriodicJob("orders.reconcile", reconcile_orders, "RECONCILE_ORDERS_INTERVAL_S"),
    PeriodicJob("privacy.retention", run_retention_sweep, "RETENTION_SWEEP_INTERVAL_S"),
    PeriodicJob("api.idempotency_keys", purge_idempotency_keys, "SWEEP_IDEMPOTENCY_INTERVAL_S"),
)


class ThreadCronScheduler(CronScheduler):
    """For running inside another process's thread (``make run``): signals belong to the main thread."""

    def _install_signal_handlers(self) -> None:
        pass


def build_scheduler(app: Flask, connection: Redis, scheduler_class: type[CronScheduler] = CronScheduler
                    ) -> CronScheduler:
    scheduler = scheduler_class(connection=connection, name="miaohua")
    config = app.config
    for job in PERIODIC_JOBS:
        scheduler.register(job.task.func, queue_name=job.task.queue, interval=config[job.interval_setting],
                           job_timeout=job.task.timeout_seconds(config),
                           failure_ttl=config["JOB_FAILURE_TTL"], name=job.id)
    return scheduler
