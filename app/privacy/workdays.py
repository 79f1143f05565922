"""Working-day arithmetic for legal deadlines (§8: answer within 15 working days)."""

from __future__ import annotations

from datetime import date, datetime, timedelta


def parse_dates(spec: str | None) -> set[date]:
    return {date.fromisoformat(part.strip()) for part in (spec or "").split(",") if part.strip()}


def add_working_days(start: datetime, days: int, holidays: set[date], extra_workdays: set[date]) -> datetime:
    """``days`` working days after ``start``: weekends and public holidays skipped, make-up workdays
    (调休, a Saturday or Sunday declared a working day) counted."""
    current = start
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        day = current.date()
        working = (day.weekday() < 5 or day in extra_workdays) and day not in holidays
        remaining -= working
    return current
