from app.core.jobs import DEFAULT_QUEUE, MAINTENANCE_QUEUE, task
from app.orders import services


@task(DEFAULT_QUEUE, timeout=60)
def submit_refund(refund_id: int) -> str:
    return services.submit(refund_id)


@task(DEFAULT_QUEUE, timeout=60)
def upload_shipping_info(order_id: int) -> str:
    return services.upload_shipping(order_id)


@task(MAINTENANCE_QUEUE, timeout=300)
def reconcile_orders() -> dict:
    result = services.reconcile()
    result["shipping_retried"] = services.retry_shipping_uploads()
    return result
