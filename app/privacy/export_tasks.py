"""Job entry points of the data export (thin: the rules live in ``app.privacy.export``)."""

from app.core.jobs import DEFAULT_QUEUE, MAINTENANCE_QUEUE, task
from app.privacy import export


@task(DEFAULT_QUEUE, timeout=600)
def build_export(export_id: int) -> str:
    """Build one user's archive: ``pending`` → ``running`` → ``ready`` (or ``failed``)."""
    return export.run_export(export_id)


@task(MAINTENANCE_QUEUE, timeout=300)
def expire_exports() -> dict:
    """Periodic: shred archives past EXPORT_TTL_DAYS (with receipts), fail exports stuck in a lost job."""
    return export.expire_exports()
