"""What the generation worker does with one job (called by ``tasks.run_generation``).

Idempotent: a job that already ended is left alone (its sources are made sure to be gone), and
results are stored in the same transaction that marks the job succeeded, so a crash never leaves
half a result set. A heartbeat in Redis lets the sweep tell a live worker from a dead one.
"""

from __future__ import annotations

import logging
import threading
import time

from flask import current_app
from rq.timeouts import JobTimeoutException
from sqlalchemy import select

from app.core import objects
from app.core.db import utcnow
from app.core.errors import StorageFull, StorageUnavailable
from app.core.jobs import redis_connection
from app.extensions import db

from . import notify, polling, previews, queue, services
from .models import FINISHED, GenerationJob, GenerationResult, JobStatus

log = logging.getLogger(__name__)


class JobCancelled(Exception):
    pass


class Heartbeat:
    """Refreshes the job's heartbeat key while the job runs (a thread, so long model calls count)."""

    def __init__(self, job_public_id: str, ttl: int) -> None:
        self.key = services.HEARTBEAT_KEY.format(job=job_public_id)
        self.ttl = ttl
        self.stop = threading.Event()
        self.conn = redis_connection()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        while not self.stop.is_set():
            self.conn.set(self.key, "1", ex=self.ttl)
            self.stop.wait(max(0.2, self.ttl / 3))

    def __enter__(self) -> Heartbeat:
        self.conn.set(self.key, "1", ex=self.ttl)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.conn.delete(self.key)


def run(job_id: int) -> str:
    job = db.session.scalar(select(GenerationJob).where(GenerationJob.id == job_id).with_for_update())
    if job is None:
        return "missing"
    if job.status in FINISHED:
        services.left_queue(job)
        if job.sources_deleted_at is None:
            services.delete_sources(job, reason=f"job_{job.status}")
            db.session.commit()
        return job.status
    job.status, job.started_at, job.attempts = JobStatus.RUNNING, utcnow(), job.attempts + 1
    job.dispatched_at = job.dispatched_at or job.started_at
    queue.dispatch_next(job.user_id)  # the fair queue: this user's next job takes its turn in RQ
    db.session.commit()
    services.left_queue(job)  # everyone behind it moves up one (a lost leave: the sweep's reconcile)
    started = time.monotonic()
    spec = services.style(job.style_id)
    try:
        with Heartbeat(job.public_id, current_app.config["GENERATION_HEARTBEAT_TTL_S"]):
            outputs, verdicts = _generate(job, spec)
            if spec.kind == "avatar" and not services.avatar_storage_consented(job.user_id):
                raise services.AvatarStorageNotConsented()  # withdrawn while it ran: nothing is stored
            _store_results(job, outputs, verdicts)
        services.finish(job, JobStatus.SUCCEEDED)
        job.progress = 1.0
        services.record_duration(spec.kind, time.monotonic() - started)
    except JobCancelled:
        db.session.rollback()
        services.finish(job, JobStatus.CANCELLED, "cancelled", "The job was cancelled.")
    except JobTimeoutException:
        db.session.rollback()
        services.finish(job, JobStatus.FAILED, "timeout", "Generation took too long; please try again.")
    except services.AvatarStorageNotConsented as exc:
        db.session.rollback()
        services.finish(job, JobStatus.FAILED, exc.code, exc.message)
    except Exception as exc:
        db.session.rollback()
        from workers.generators.base import GenerationError

        if isinstance(exc, GenerationError | StorageFull | StorageUnavailable):  # the user is told which
            services.finish(job, JobStatus.FAILED, exc.code, str(exc)[:200])
        else:
            log.exception("generation failed")
            services.finish(job, JobStatus.FAILED, "internal_error", "Something went wrong; please try again.")
    db.session.commit()
    notify.job_finished(job)  # after the commit, best effort: WeChat can never fail the job
    return job.status


def _generate(job: GenerationJob, spec) -> tuple[list, list]:
    """The generator's outputs and their likeness verdicts (``likeness.py``: checked, maybe regenerated once)."""
    from workers.generators.base import GenerationRequest, get_generator

    from . import likeness

    sources = tuple(objects.read(upload.stored_object) for upload in services.sources_of(job))
    request = GenerationRequest(style=spec, sources=sources, image_format="jpeg")
    last_write = [0.0]

    def progress(fraction: float) -> None:
        if services.cancel_requested(job):
            raise JobCancelled()
        now = time.monotonic()
        if now - last_write[0] > 0.5:  # at most two writes a second
            last_write[0] = now
            db.session.execute(GenerationJob.__table__.update().where(GenerationJob.id == job.id)
                               .values(progress=round(min(max(fraction, 0.0), 0.99), 3)),
                               execution_options={polling.EPOCH_OPTION: job.user_id})  # a new poll answer
            db.session.commit()

    generator = get_generator(current_app.config["GENERATION_BACKEND"])
    outputs = generator.generate(request, progress)
    return likeness.review_job(generator, request, outputs, current_app.config, keep_going=lambda: progress(0.99),
                               propagate=(JobCancelled, JobTimeoutException))


def _store_results(job: GenerationJob, outputs: list, verdicts: list) -> None:
    """Each output as a labelled original and a labelled, watermarked free preview (a poster frame for a video)."""
    from .models import _public_id

    stored = []
    try:
        for output, verdict in zip(outputs, verdicts, strict=True):
            public_id = _public_id()  # the label's ProduceID: this content's id here
            if output.mime.startswith("image/"):
                original, original_mime = previews.labelled_original(output.data, public_id)
                preview, _ = previews.watermarked_preview(output.data, public_id)
                kind = "image"
            else:
                original, original_mime = previews.labelled_video(output.data, public_id), output.mime
                preview, _ = previews.video_poster(output.data, output.frame_count - 1, public_id)
                kind = "video"
            original_obj = objects.store("result_original", original, original_mime)
            stored.append(original_obj)
            preview_obj = objects.store("result_preview", preview, "image/jpeg")
            stored.append(preview_obj)
            db.session.add(GenerationResult(public_id=public_id, job_id=job.id, user_id=job.user_id, kind=kind,
                                            mime_type=original_mime, width=output.width, height=output.height,
                                            original=original_obj, preview=preview_obj,
                                            likeness_score=verdict.score, likeness_flagged=verdict.flagged))
        db.session.flush()
    except Exception:
        for obj in stored:
            objects.discard_unsaved(obj)
        raise
