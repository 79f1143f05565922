"""Queue probes: write a row, enqueue after commit, let a worker answer, wait for the answer."""

from __future__ import annotations

import os
import socket
import time
import uuid

from app.core.db import utcnow
from app.core.jobs import require_queue
from app.extensions import db
from app.ops.models import QueueProbe


def start_probe(queue: str) -> QueueProbe:
    from app.ops.tasks import PROBE_TASKS

    require_queue()
    probe = QueueProbe(queue=queue, rq_job_id=uuid.uuid4().hex)
    db.session.add(probe)
    db.session.flush()
    PROBE_TASKS[queue].enqueue_after_commit(probe.id, job_id=probe.rq_job_id)
    db.session.commit()
    return probe


def answer_probe(probe_id: int) -> str:
    """Idempotent: a probe answered once keeps its first answer."""
    probe = db.session.get(QueueProbe, probe_id)
    if probe is None:
        return "missing"
    if probe.answered_at is None:
        probe.answered_at = utcnow()
        probe.answered_by = f"{socket.gethostname()}:{os.getpid()}"
        db.session.commit()
    return "answered"


def wait_for_answer(probe_id: int, timeout_s: float) -> QueueProbe | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        db.session.expire_all()
        probe = db.session.get(QueueProbe, probe_id)
        if probe is not None and probe.answered_at is not None:
            return probe
        db.session.rollback()  # end the read transaction so the next poll sees the worker's commit
        time.sleep(0.1)
    return None
