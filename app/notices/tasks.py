"""The notice-sending job: thin; the rules are in ``services.deliver``."""

from __future__ import annotations

from app.core.jobs import DEFAULT_QUEUE, MAINTENANCE_QUEUE, task

from . import services


@task(DEFAULT_QUEUE, timeout="NOTICE_JOB_TIMEOUT_S")
def send_notice(notice_id: int) -> dict[str, int]:
    return services.deliver(notice_id)


@task(MAINTENANCE_QUEUE, timeout=120)
def resume_stalled_notices() -> dict[str, int]:
    return {"resumed": services.resume_stalled()}
