"""Worker side of the queue probe (thin: the rule lives in services)."""

from app.core import idempotency
from app.core.jobs import DEFAULT_QUEUE, GENERATION_QUEUE, MAINTENANCE_QUEUE, task
from app.extensions import db
from app.ops import services


@task(DEFAULT_QUEUE, timeout=30)
def answer_probe(probe_id: int) -> str:
    return services.answer_probe(probe_id)


@task(GENERATION_QUEUE, timeout=30)
def answer_generation_probe(probe_id: int) -> str:
    return services.answer_probe(probe_id)


@task(MAINTENANCE_QUEUE, timeout=30)
def answer_maintenance_probe(probe_id: int) -> str:
    return services.answer_probe(probe_id)


@task(MAINTENANCE_QUEUE, timeout=120)
def purge_idempotency_keys() -> dict[str, int]:
    """Forget Idempotency-Keys (and the responses kept for them) past IDEMPOTENCY_KEY_TTL_S."""
    purged = idempotency.purge_expired()
    db.session.commit()
    return {"idempotency_keys_purged": purged}


PROBE_TASKS = {
    DEFAULT_QUEUE: answer_probe,
    GENERATION_QUEUE: answer_generation_probe,
    MAINTENANCE_QUEUE: answer_maintenance_probe,
}
