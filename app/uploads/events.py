"""Uploads react to consent events: face data must go when consent does."""

from __future__ import annotations

from app.core import events

from . import services


def _delete_face_data(sender, user_id: int, reason: str) -> None:
    services.delete_all_of_user(user_id, reason)


def connect() -> None:
    events.face_data_deletion_required.connect(_delete_face_data, weak=False)
