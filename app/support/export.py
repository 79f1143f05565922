"""The user's tickets in their data export (policy §8: a copy of what we hold), decrypted for them alone."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.extensions import db

from . import services
from .links import links_of
from .models import Ticket


def tickets_of(user_id: int) -> list[dict[str, Any]]:
    """Every ticket with its whole thread; staff messages name no staff member (as in the app)."""
    from app.core.lifecycle import ts

    tickets = db.session.scalars(select(Ticket).where(Ticket.user_id == user_id).order_by(Ticket.id)
                                 .options(selectinload(Ticket.messages))).all()
    links = links_of(tickets)
    return [{
        "id": t.public_id, "category": t.category, "subject": services.subject_of(t), "status": t.status,
        "order_no": links.order_no(t), "job_id": links.job_id(t),
        "created_at": ts(t.created_at), "updated_at": ts(t.updated_at), "resolved_at": ts(t.resolved_at),
        "closed_at": ts(t.closed_at),
        "messages": [{"author": m.author_kind, "body": services.body_of(m), "at": ts(m.created_at)}
                     for m in t.messages],
    } for t in tickets]
