"""Reads of generation jobs for other domains (support tickets): plain data, never the ORM rows.

A page of ``JobCard`` costs one statement however many jobs it names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from app.extensions import db

from .models import GenerationJob


@dataclass(frozen=True)
class JobCard:
    id: int  # the internal id: for other domains' reads (never shown)
    public_id: str
    style_id: str
    status: str


def cards(job_ids: Iterable[int | None]) -> dict[int, JobCard]:
    """The jobs among ``job_ids`` that exist (None ignored), by internal id; one statement (none if no ids)."""
    wanted = {i for i in job_ids if i is not None}
    if not wanted:
        return {}
    rows = db.session.execute(select(GenerationJob.id, GenerationJob.public_id, GenerationJob.style_id,
                                     GenerationJob.status).where(GenerationJob.id.in_(wanted))).all()
    return {i: JobCard(id=i, public_id=public_id, style_id=style, status=status)
            for i, public_id, style, status in rows}
