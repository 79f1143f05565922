"""Staff API: the dashboard — queue depth and age, job outcomes and latency, deletion backlog, work waiting.

No personal data: counts and ages only, so it is not audit-logged and every role may see it.
"""

from __future__ import annotations

from flask import Blueprint

from app.core.api import endpoint
from app.monitoring.snapshot import snapshot
from app.privacy import rights
from app.staff.auth import STAFF_API_PREFIX, staff_required
from app.staff.permissions import Permission
from app.support import services as support

from .schemas import DashboardOut

bp = Blueprint("admin_dashboard", __name__, url_prefix=STAFF_API_PREFIX)


def ticket_counts() -> dict[str, int]:
    return support.active_counts()


@bp.get("/dashboard")
@staff_required(Permission.DASHBOARD_READ)
@endpoint("Queues, jobs, deletion backlog and alerts; tickets and rights requests waiting", response=DashboardOut,
          tags=("staff",), errors=[401, 403])
def dashboard():
    return DashboardOut(monitoring=snapshot(), tickets=ticket_counts(), rights_requests=rights.queue_counts())
