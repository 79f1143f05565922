"""China's calendar: Beijing dates, statutory holidays and adjusted working days (调休) from the pinned
``chinese_calendar`` data, a clear error past the years it knows, and the issue's example (a request filed
on a Monday at 01:00 Beijing time, still Sunday in UTC, is counted from the Monday)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from app.core import chinatime
from app.core.chinatime import (
    BEIJING,
    CalendarOutOfRange,
    add_working_days,
    beijing_date,
    is_working_day,
    working_days_between,
)


def test_2026_spring_festival_and_its_makeup_saturdays_come_from_the_package():
    # State Council notice for 2026: 15-23 February off; Saturdays 14 and 28 February are working days.
    assert [is_working_day(date(2026, 2, d)) for d in range(14, 24)] == [True] + [False] * 9
    assert is_working_day(date(2026, 2, 28)) and not is_working_day(date(2026, 2, 21))
    assert is_working_day(date(2026, 2, 13)) and is_working_day(date(2026, 2, 24))


def test_2026_national_day_holiday_and_its_makeup_days():
    # 1-7 October off; Sunday 20 September and Saturday 10 October are working days (Mid-Autumn 25-27 Sept).
    assert not any(is_working_day(date(2026, 10, d)) for d in range(1, 8))
    assert is_working_day(date(2026, 9, 20)) and is_working_day(date(2026, 10, 10))
    assert not is_working_day(date(2026, 9, 25)) and not is_working_day(date(2026, 10, 11))


def test_15_working_days_across_the_spring_festival():
    # Filed Tuesday 10 February 2026, 10:00 Beijing: 11, 12, 13, 14 (Sat, 调休), 24, 25, 26, 27, 28 (Sat, 调休),
    # 2, 3, 4, 5, 6, 9 March → due Monday 9 March, until 23:59:59 Beijing time.
    filed = datetime(2026, 2, 10, 2, tzinfo=UTC)
    due = add_working_days(filed, 15)
    assert due.astimezone(BEIJING).replace(microsecond=0) == datetime(2026, 3, 9, 23, 59, 59, tzinfo=BEIJING)
    assert due.tzinfo is not None and due.utcoffset() == timedelta(0)  # stored and served as UTC
    assert working_days_between(date(2026, 2, 10), date(2026, 3, 9)) == 15


def test_15_working_days_across_national_day():
    # Filed Monday 28 September 2026: 29, 30 Sept; 8, 9, 10 (Sat, 调休), 12-16, 19-23 Oct → Friday 23 October.
    due = add_working_days(datetime(2026, 9, 28, 3, tzinfo=UTC), 15)
    assert beijing_date(due) == date(2026, 10, 23)


def test_a_monday_1am_beijing_request_is_counted_from_the_beijing_monday():
    # The example: Monday 2026-11-02 01:00 in Beijing is Sunday 17:00 UTC. Counted on UTC dates the
    # deadline fell on a Saturday; on Beijing dates it is the Monday three weeks later.
    filed = datetime(2026, 11, 1, 17, tzinfo=UTC)
    assert filed.weekday() == 6 and beijing_date(filed) == date(2026, 11, 2)
    due = add_working_days(filed, 15)
    assert beijing_date(due) == date(2026, 11, 23) and beijing_date(due).weekday() == 0
    assert due.date().weekday() == 0  # still Monday in UTC too: 15:59:59 UTC


def test_a_date_past_the_known_years_is_a_clear_error():
    last = max(chinatime.PACKAGE_YEARS)
    with pytest.raises(CalendarOutOfRange) as raised:
        is_working_day(date(last + 1, 3, 2))
    assert raised.value.code == "calendar_out_of_range" and raised.value.status == 503
    assert raised.value.details["date"] == f"{last + 1}-03-02"
    with pytest.raises(CalendarOutOfRange):  # a deadline that runs into that year
        add_working_days(datetime(last, 12, 20, 2, tzinfo=UTC), 15)
    with pytest.raises(CalendarOutOfRange):
        is_working_day(date(min(chinatime.PACKAGE_YEARS) - 1, 6, 1))


def test_the_settings_declare_a_year_the_package_does_not_know_yet(app_ctx):
    year = max(chinatime.PACKAGE_YEARS) + 1
    first_monday = next(date(year, 1, d) for d in range(1, 8) if date(year, 1, d).weekday() == 0)
    app_ctx.config.update(PUBLIC_HOLIDAYS=f"{year}-01-01", EXTRA_WORKDAYS=f"{first_monday + timedelta(days=5)}")
    try:
        assert year in chinatime.known_years()
        assert not is_working_day(date(year, 1, 1))
        assert is_working_day(first_monday) and is_working_day(first_monday + timedelta(days=5))  # the Saturday
        assert not is_working_day(first_monday + timedelta(days=6))  # an ordinary Sunday
    finally:
        app_ctx.config.update(PUBLIC_HOLIDAYS="", EXTRA_WORKDAYS="")
    with pytest.raises(CalendarOutOfRange):
        is_working_day(date(year, 1, 1))


def test_beijing_midnight_and_formatting():
    assert chinatime.beijing_midnight(date(2026, 10, 1)) == datetime(2026, 9, 30, 16, tzinfo=UTC)
    assert chinatime.format_beijing(datetime(2026, 9, 30, 16, 5, tzinfo=UTC)) == "2026-10-01 00:05"
    assert chinatime.format_beijing(datetime(2026, 9, 30, 16, 5)) == "2026-10-01 00:05"  # naive: UTC
    assert chinatime.format_beijing(None) is None
