from app.core.jobs import DEFAULT_QUEUE, MAINTENANCE_QUEUE, task
from app.orders import services


@task(DEFAULT_QUEUE, timeout=60)
def submit_refund(refund_id: int) -> str:
    return services.submit(refund_id)


@task(MAINTENANCE_QUEUE, timeout=300)
def reconcile_orders() -> dict:
    return services.reconcile()
