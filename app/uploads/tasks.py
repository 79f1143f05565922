from app.core.jobs import MAINTENANCE_QUEUE, task
from app.uploads import services


@task(MAINTENANCE_QUEUE, timeout=300)
def sweep_uploads() -> dict:
    return services.sweep()
