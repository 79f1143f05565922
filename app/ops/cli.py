"""``flask jobs …``: operator commands for the queues."""

from __future__ import annotations

import sys

import click
from flask import Blueprint
from rq import Queue
from rq.registry import FailedJobRegistry, StartedJobRegistry

from app.core.jobs import QUEUE_NAMES, redis_connection
from app.ops import services

bp = Blueprint("jobs_cli", __name__, cli_group="jobs")


@bp.cli.command("ping")
@click.option("--queue", "queue_name", type=click.Choice(QUEUE_NAMES), default="default", show_default=True)
@click.option("--timeout", "timeout_s", type=float, default=15.0, show_default=True)
def ping(queue_name: str, timeout_s: float) -> None:
    """Send a probe through a queue and wait until a worker answers it."""
    probe = services.start_probe(queue_name)
    click.echo(f"probe {probe.id} enqueued on '{queue_name}' as job {probe.rq_job_id}")
    answered = services.wait_for_answer(probe.id, timeout_s)
    if answered is None:
        click.echo(f"no worker answered within {timeout_s:g}s: is a worker consuming '{queue_name}'?", err=True)
        sys.exit(1)
    latency = (answered.answered_at - answered.created_at).total_seconds()
    click.echo(f"answered by worker {answered.answered_by} after {latency:.3f}s")


@bp.cli.command("status")
def status() -> None:
    """Queue lengths, running and failed jobs per queue."""
    conn = redis_connection()
    for name in QUEUE_NAMES:
        queue = Queue(name, connection=conn)
        started = StartedJobRegistry(name, connection=conn).count
        failed = FailedJobRegistry(name, connection=conn).count
        click.echo(f"{name:12s} queued={queue.count} started={started} failed={failed}")
