"""What the user reads for the generation domain's ids: style names, job statuses, job error texts.

Style names come from the catalogue (``workers/generators/styles.py``): its English name is the msgid (extracted
with the ``StyleSpec:5`` keyword) and the zh_CN catalog holds the Chinese name, which the catalogue also keeps as
``name_zh`` for the workers (tests/i18n checks that the two agree).
"""

from __future__ import annotations

from app.core.i18n import _l, gettext, translate

from .models import JobStatus

STYLE_KIND_LABELS = {
    "photo": _l("Photo style"),
    "id_photo": _l("ID photo"),
    "avatar": _l("Digital avatar"),
    "video": _l("Video"),
}

JOB_STATUS_LABELS = {
    JobStatus.QUEUED: _l("Queued"),
    JobStatus.RUNNING: _l("Generating"),
    JobStatus.SUCCEEDED: _l("Completed"),
    JobStatus.FAILED: _l("Failed"),
    JobStatus.CANCELLED: _l("Cancelled"),
}

# A failed or cancelled job's ``error_code`` -> the text shown for it (the stored ``error_message`` keeps the
# generator's own English detail for support; it is shown only for a code not listed here).
JOB_ERROR_TEXTS = {
    "no_face": _l("No face was detected in the photo; upload a clear photo of your face."),
    "invalid_image": _l("The photo could not be used; upload another one."),
    "invalid_request": _l("The request could not be processed; please try again."),
    "generation_failed": _l("Generation failed; please try again."),
    "content_rejected": _l("The result did not pass the content check; try another photo."),
    "unknown_style": _l("This style is no longer available."),
    "unknown_generator": _l("This style is temporarily unavailable."),
    "generator_unavailable": _l("This style is temporarily unavailable."),
    "timeout": _l("Generation took too long; please try again."),
    "worker_lost": _l("The worker stopped; please try again."),
    "cancelled": _l("The job was cancelled."),
    "internal_error": _l("Something went wrong; please try again."),
    "storage_full": _l("File storage is full; nothing was saved, try again later."),
    "storage_unavailable": _l("File storage is unavailable; nothing was saved, try again shortly."),
}


def style_name(spec) -> str:
    """A style's name in the current language (``spec`` is a catalogue ``StyleSpec``)."""
    return gettext(spec.name_en) if spec.name_en else spec.id


def job_status_text(status: str) -> str:
    label = JOB_STATUS_LABELS.get(status)  # type: ignore[call-overload]
    return str(label) if label is not None else status


def job_error_text(code: str | None, message: str | None) -> str | None:
    if code is None and message is None:
        return None
    label = JOB_ERROR_TEXTS.get(code or "")
    return str(label) if label is not None else translate(message)
