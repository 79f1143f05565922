"""China's clock and calendar: Beijing time for people, China's working days for legal deadlines.

The API keeps ISO 8601 UTC instants for machines; whatever a person reads (a due date, a receipt, a
policy's effective date, a notice) is a Beijing date or time. Legal deadlines ("15 working days", §8)
are counted on Beijing dates, skipping weekends and statutory holidays and counting the adjusted
working days (调休, a weekend day declared a working day) — from the maintained ``chinese_calendar``
package (the State Council's yearly notice), pinned in requirements.in and updated each year.

A year the package does not know yet cannot be counted: that raises ``CalendarOutOfRange``
(``calendar_out_of_range``) rather than guessing. Until the package is updated, an operator may
declare a year from the State Council's notice in ``PUBLIC_HOLIDAYS`` / ``EXTRA_WORKDAYS`` (ISO
dates, comma-separated): a year with at least one declared holiday counts as known, and declared
dates override the package's for corrections.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
from chinese_calendar import constants as _package_data
from flask import current_app, has_app_context

from .errors import ServiceUnavailable

BEIJING = ZoneInfo("Asia/Shanghai")
PACKAGE_YEARS = frozenset(day.year for day in _package_data.holidays)


class CalendarOutOfRange(ServiceUnavailable):
    code = "calendar_out_of_range"
    message = "China's holiday calendar for that year is not known yet; working days cannot be counted."


# --- the clock ------------------------------------------------------------------------------------

def to_beijing(moment: datetime) -> datetime:
    """An aware instant in Beijing time (a naive one is taken as UTC, as the database stores them)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(BEIJING)


def beijing_date(moment: datetime) -> date:
    return to_beijing(moment).date()


def beijing_midnight(day: date) -> datetime:
    """00:00 Beijing time on ``day``, as a UTC instant (16:00 UTC the day before)."""
    return datetime.combine(day, time(0), BEIJING).astimezone(UTC)


def end_of_beijing_day(day: date) -> datetime:
    """The last microsecond of ``day`` in Beijing, as a UTC instant: a deadline on a date runs all that day."""
    return beijing_midnight(day + timedelta(days=1)) - timedelta(microseconds=1)


def format_beijing(moment: datetime | None, *, with_zone: bool = False) -> str | None:
    """``2026-10-08 09:30`` in Beijing time; ``with_zone`` appends ``(UTC+8)``."""
    if moment is None:
        return None
    text = to_beijing(moment).strftime("%Y-%m-%d %H:%M")
    return f"{text} (UTC+8)" if with_zone else text


# --- the calendar ---------------------------------------------------------------------------------

def _declared() -> tuple[set[date], set[date]]:
    if not has_app_context():
        return set(), set()
    config = current_app.config
    return _parse_dates(config.get("PUBLIC_HOLIDAYS")), _parse_dates(config.get("EXTRA_WORKDAYS"))


def _parse_dates(spec: str | None) -> set[date]:
    return {date.fromisoformat(part.strip()) for part in (spec or "").split(",") if part.strip()}


def known_years() -> frozenset[int]:
    holidays, _ = _declared()
    return PACKAGE_YEARS | {day.year for day in holidays}


def is_working_day(day: date) -> bool:
    holidays, extra_workdays = _declared()
    if day in holidays:
        return False
    if day in extra_workdays:
        return True
    if day.year in PACKAGE_YEARS:
        return chinese_calendar.is_workday(day)
    if day.year in {d.year for d in holidays}:
        return day.weekday() < 5
    first, last = min(PACKAGE_YEARS), max(known_years())
    raise CalendarOutOfRange(details={"date": day.isoformat(), "known_years": [first, last]})


def add_working_days(start: datetime, days: int) -> datetime:
    """The deadline ``days`` working days after ``start``: counted from the Beijing date of ``start`` (the
    day itself does not count), due until the end of that Beijing day (returned as a UTC instant)."""
    day, remaining = beijing_date(start), days
    while remaining > 0:
        day += timedelta(days=1)
        remaining -= is_working_day(day)
    return end_of_beijing_day(day)


def add_working_days_at_the_latest(start: datetime, days: int) -> datetime:
    """Like ``add_working_days``, but never refuses: past the years the calendar knows, every Monday to
    Friday counts as a working day. That can only bring the deadline earlier than the real one (unknown
    holidays outnumber their make-up days), so a user's request is never refused and never answered late
    for want of next year's calendar; a warning asks the operator to update the package."""
    try:
        return add_working_days(start, days)
    except CalendarOutOfRange:
        import logging

        logging.getLogger(__name__).warning("china calendar unknown for a deadline: counting Mon-Fri only",
                                            extra={"start": start.isoformat(), "known_years": sorted(known_years())})
        day, remaining = beijing_date(start), days
        while remaining > 0:
            day += timedelta(days=1)
            holidays, extra_workdays = _declared()
            if day in holidays:
                continue
            remaining -= day in extra_workdays or day.weekday() < 5
        return end_of_beijing_day(day)


def working_days_between(start: date, end: date) -> int:
    """Working days in ``(start, end]``; negative when ``end`` is before ``start``."""
    if end < start:
        return -working_days_between(end, start)
    return sum(is_working_day(start + timedelta(days=n)) for n in range(1, (end - start).days + 1))
