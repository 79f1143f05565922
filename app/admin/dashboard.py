"""Staff API: the dashboard — queue depth and age, job outcomes and latency, deletion backlog, work waiting.

No personal data: counts and ages only, so it is not audit-logged and every role may see it.
"""

from __future__ import annotations

from flask import Blueprint
from sqlalchemy import func, select

from app.core.api import endpoint
from app.extensions import db
from app.monitoring.snapshot import snapshot
from app.privacy import rights
from app.staff.auth import STAFF_API_PREFIX, staff_required
from app.staff.permissions import Permission
from app.support.models import Ticket, TicketStatus

from .schemas import DashboardOut

bp = Blueprint("admin_dashboard", __name__, url_prefix=STAFF_API_PREFIX)


def ticket_counts() -> dict[str, int]:
    rows = db.session.execute(select(Ticket.status, func.count()).where(
        Ticket.status.in_((TicketStatus.OPEN, TicketStatus.WAITING_USER))).group_by(Ticket.status)).all()
    counts = {str(status): n for status, n in rows}
    return {"open": counts.get(TicketStatus.OPEN, 0), "waiting_user": counts.get(TicketStatus.WAITING_USER, 0)}


@bp.get("/dashboard")
@staff_required(Permission.DASHBOARD_READ)
@endpoint("Queues, jobs, deletion backlog and alerts; tickets and rights requests waiting", response=DashboardOut,
          tags=("staff",), errors=[401, 403])
def dashboard():
    return DashboardOut(monitoring=snapshot(), tickets=ticket_counts(), rights_requests=rights.queue_counts())
