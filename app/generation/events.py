"""Generation reacts to consent events: no face processing without consent."""

from __future__ import annotations

from sqlalchemy import select

from app.core import events
from app.extensions import db

from . import services
from .models import GenerationJob, JobStatus


def _stop_face_jobs(sender, user_id: int, reason: str) -> None:
    jobs = db.session.scalars(select(GenerationJob).where(
        GenerationJob.user_id == user_id, GenerationJob.status.in_([JobStatus.QUEUED, JobStatus.RUNNING])))
    for job in list(jobs):
        services.cancel(job, commit=False)  # the withdrawal's transaction commits it


def connect() -> None:
    events.face_data_deletion_required.connect(_stop_face_jobs, weak=False)
