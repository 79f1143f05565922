"""Periodic jobs, declared in one registry with stable ids, run by RQ's cron scheduler.

``python -m workers.scheduler`` runs the scheduler; ``make run`` runs it as a supervised child process. One per
deployment is enough, and a second one started by mistake (or a standby kept for fail-over) is
harmless: RQ's own ``CronScheduler`` does not coordinate between instances (each would enqueue every
job), so before enqueueing a due job a scheduler takes that job's lease in Redis (``SET NX PX`` for
the job's interval). Whoever holds the lease runs the job; the others skip this turn and look again
when their own clock says it is due, so a job runs at most once per interval however many
schedulers there are, and another scheduler takes over within one interval when the first stops.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask
from redis import Redis
from redis.exceptions import WatchError
from rq.cron import CronJob, CronScheduler
from rq.utils import now

from app.core.jobs import Task
from app.generation.tasks import sweep_generation_jobs
from app.notices.tasks import resume_stalled_notices
from app.ops.tasks import purge_idempotency_keys
from app.orders.tasks import reconcile_orders
from app.privacy.deletion_log_copy import copy_deletion_log
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
    PeriodicJob("notices.resume", resume_stalled_notices, "NOTICE_RESUME_INTERVAL_S"),
    PeriodicJob("privacy.deletion_log_copy", copy_deletion_log, "DELETION_LOG_COPY_INTERVAL_S"),
    PeriodicJob("api.idempotency_keys", purge_idempotency_keys, "SWEEP_IDEMPOTENCY_INTERVAL_S"),
)


LEASE_KEY_PREFIX = "miaohua:periodic:lease:"


class LeasedCronScheduler(CronScheduler):
    """A cron scheduler that enqueues a due job only while it holds that job's lease in Redis."""

    def _take_lease(self, job: CronJob) -> bool:
        """Take the job's lease if it is free, or renew it if this scheduler holds it (atomically)."""
        key, lease_ms = f"{LEASE_KEY_PREFIX}{job.name}", max(int((job.interval or 60) * 1000), 1)
        if self.connection.set(key, self.name, nx=True, px=lease_ms):
            return True
        with self.connection.pipeline() as pipe:
            try:
                pipe.watch(key)
                holder = pipe.get(key)
                if holder is None or holder.decode() != self.name:
                    return False  # another scheduler's (a lease that just expired is taken next turn)
                pipe.multi()
                pipe.set(key, self.name, px=lease_ms)
                pipe.execute()
                return True
            except WatchError:
                return False

    def enqueue_jobs(self) -> list[CronJob]:
        enqueued: list[CronJob] = []
        for job in self._cron_jobs:
            if not job.should_run():
                continue
            if self._take_lease(job):
                job.enqueue(self.connection)
                enqueued.append(job)
            else:
                self.log.debug("periodic job %s: another scheduler holds its lease", job.name)
            # Either way, look again one interval from now: from *now*, after the lease was taken, not from
            # the start of this loop (a slow loop would bring the holder back before its own lease ran out).
            job.set_enqueue_time(now())
        return enqueued


def build_scheduler(app: Flask, connection: Redis,
                    scheduler_class: type[LeasedCronScheduler] = LeasedCronScheduler) -> LeasedCronScheduler:
    scheduler = scheduler_class(connection=connection)  # a unique name each: RQ keys a scheduler's state by it
    config = app.config
    for job in PERIODIC_JOBS:
        scheduler.register(job.task.func, queue_name=job.task.queue, interval=config[job.interval_setting],
                           job_timeout=job.task.timeout_seconds(config),
                           failure_ttl=config["JOB_FAILURE_TTL"], name=job.id)
    return scheduler
