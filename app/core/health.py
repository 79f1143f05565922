"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

import logging
from typing import Literal

from flask import Blueprint
from pydantic import BaseModel
from sqlalchemy import text

from app.core.api import endpoint
from app.core.errors import ServiceUnavailable
from app.core.i18n import _l
from app.core.jobs import redis_connection
from app.extensions import db

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


class Liveness(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready"]
    checks: dict[str, str]


def check_dependencies() -> dict[str, str]:
    """Ask each backing service a trivial question; report "ok" or why not (no secrets, no URLs)."""
    checks: dict[str, str] = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        db.session.rollback()
        checks["database"] = f"unavailable ({type(exc).__name__})"
    try:
        redis_connection().ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"unavailable ({type(exc).__name__})"
    return checks


@bp.get("/healthz")
@endpoint("Process is alive", response=Liveness, tags=["health"])
def healthz():
    return Liveness(status="ok")


@bp.get("/readyz")
@endpoint("Database and Redis answer", response=Readiness, tags=["health"], errors=[(503, "not_ready")])
def readyz():
    checks = check_dependencies()
    failed = sorted(name for name, state in checks.items() if state != "ok")
    if failed:
        log.warning("not ready", extra={"failed": failed})
        raise ServiceUnavailable(_l("Not ready: %(failed)s unavailable.", failed=", ".join(failed)), code="not_ready",
                                 details={"checks": checks})
    return Readiness(status="ready", checks=checks)
