from app.core.jobs import DEFAULT_QUEUE, MAINTENANCE_QUEUE, task
from app.orders import services, shipping


@task(DEFAULT_QUEUE, timeout=60)
def submit_refund(refund_id: int) -> str:
    return services.submit(refund_id)


@task(DEFAULT_QUEUE, timeout=60)
def upload_pending_shipping() -> dict:
    return shipping.upload_pending()


@task(DEFAULT_QUEUE, timeout=60)
def upload_shipping_info(order_id: int) -> str:
    """One order's shipping info. Earlier releases enqueued one such job per fulfilled order; this keeps
    those still queued during an upgrade runnable (today a fulfilment rings for a sweep instead)."""
    return shipping.upload_one(order_id)


@task(MAINTENANCE_QUEUE, timeout=300)
def reconcile_orders() -> dict:
    result = services.reconcile()
    result["shipping_retried"] = shipping.retry_stale()
    return result
