"""Imports every domain's models so SQLAlchemy's metadata (and Alembic) sees all tables."""

from app.ops.models import QueueProbe

__all__ = ["QueueProbe"]
