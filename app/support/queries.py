"""Reads of support tickets for other domains (the staff console): plain data, never the ORM rows."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db

from .models import Ticket


def opener_of(public_id: str) -> int | None:
    """The user id of whoever opened the ticket with this public id (None: no such ticket)."""
    return db.session.scalar(select(Ticket.user_id).where(Ticket.public_id == public_id))
