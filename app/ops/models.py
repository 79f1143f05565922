from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import UTCDateTime, utcnow
from app.extensions import db


class QueueProbe(db.Model):
    """One round trip through a queue: created by the web side, answered by a worker.

    ``flask jobs ping`` writes a probe, enqueues ``answer_probe`` after the commit and waits for a
    worker to stamp it; operators use it to prove web → Redis → worker → database works.
    """

    __tablename__ = "queue_probes"

    id: Mapped[int] = mapped_column(primary_key=True)
    queue: Mapped[str] = mapped_column(String(32))
    rq_job_id: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    answered_by: Mapped[str | None] = mapped_column(String(128), default=None)
