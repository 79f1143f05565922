"""Job entry point of the retention sweep (policy §5): the ``privacy.retention`` periodic job runs it daily."""

from flask import current_app

from app.core.jobs import MAINTENANCE_QUEUE, task
from app.privacy import retention


@task(MAINTENANCE_QUEUE, timeout="RETENTION_SWEEP_TIMEOUT_S")
def run_retention_sweep() -> dict:
    return retention.run_retention(batch_size=current_app.config["RETENTION_BATCH_SIZE"])
