"""Orders react to generation: a job that did not succeed returns the credit it consumed."""

from __future__ import annotations

from app.core import events

from . import entitlements


def _return_credit(sender, job_id: int, user_id: int, status: str, **_) -> None:
    if status != "succeeded":
        entitlements.return_credit(job_id)


def connect() -> None:
    events.generation_job_ended.connect(_return_credit, weak=False)
