"""Business-time arithmetic on the default calendar, across both DST changes of 2026."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from ticket_service.sla.calendar import (
    DEFAULT_CALENDAR,
    BusinessCalendar,
    add_business_minutes,
    business_minutes_between,
)
from ticket_service.sla.clock import Interval, SlaState, read_clock

NY = ZoneInfo("America/New_York")


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)


def test_a_working_day_has_480_minutes_and_weekends_none() -> None:
    assert business_minutes_between(DEFAULT_CALENDAR, ny(2026, 1, 5, 0), ny(2026, 1, 6, 0)) == 480
    assert business_minutes_between(DEFAULT_CALENDAR, ny(2026, 1, 10, 0), ny(2026, 1, 12, 0)) == 0
    # Friday 16:00 + 2h lands on Monday 10:00
    assert add_business_minutes(DEFAULT_CALENDAR, ny(2026, 1, 9, 16), 120) == ny(2026, 1, 12, 10)
    # before opening counts from opening; a target ending at close is that close
    assert add_business_minutes(DEFAULT_CALENDAR, ny(2026, 1, 5, 7), 480) == ny(2026, 1, 5, 17)


def test_spring_forward_keeps_nine_to_five_local() -> None:
    # DST starts Sunday 8 March 2026: Friday 17:00 EST = 22:00 UTC, Monday 09:00 EDT = 13:00 UTC
    friday_afternoon = ny(2026, 3, 6, 16)
    due = add_business_minutes(DEFAULT_CALENDAR, friday_afternoon, 120)
    assert due == ny(2026, 3, 9, 10)
    assert due.astimezone(UTC) == datetime(2026, 3, 9, 14, 0, tzinfo=UTC)
    assert business_minutes_between(DEFAULT_CALENDAR, friday_afternoon, due) == 120
    # 71 wall-clock hours passed but only 70 real hours: business time is unaffected
    assert (due - friday_afternoon).total_seconds() == 65 * 3600


def test_fall_back_keeps_nine_to_five_local() -> None:
    # DST ends Sunday 1 November 2026: Friday 17:00 EDT = 21:00 UTC, Monday 09:00 EST = 14:00 UTC
    friday_afternoon = ny(2026, 10, 30, 16)
    due = add_business_minutes(DEFAULT_CALENDAR, friday_afternoon, 120)
    assert due == ny(2026, 11, 2, 10)
    assert due.astimezone(UTC) == datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    assert business_minutes_between(DEFAULT_CALENDAR, friday_afternoon, due) == 120
    assert (due - friday_afternoon).total_seconds() == 67 * 3600


def test_holidays_are_skipped_and_naive_datetimes_refused() -> None:
    calendar = BusinessCalendar(holidays=frozenset({date(2026, 12, 25)}))
    # Thursday 24 Dec 16:00 + 2h: Friday 25 is a holiday → Monday 28 10:00
    assert add_business_minutes(calendar, ny(2026, 12, 24, 16), 120) == ny(2026, 12, 28, 10)
    with pytest.raises(ValueError, match="timezone-aware"):
        business_minutes_between(calendar, datetime(2026, 1, 5, 9), datetime(2026, 1, 5, 10))
    with pytest.raises(ValueError, match="no working time"):
        add_business_minutes(BusinessCalendar(workdays=frozenset()), ny(2026, 1, 5), 1)


def test_clock_pauses_warns_breaches_and_stops() -> None:
    created = ny(2026, 1, 5, 9)
    # 240-minute target; ran 9:00-10:00, paused (pending) 10:00-15:00, running since 15:00
    running = [Interval(created, ny(2026, 1, 5, 10)), Interval(ny(2026, 1, 5, 15), None)]
    at_1530 = read_clock(
        DEFAULT_CALENDAR,
        target_minutes=240,
        running=running,
        stopped_at=None,
        now=ny(2026, 1, 5, 15, 30),
    )
    assert at_1530.elapsed_seconds == 90 * 60
    assert at_1530.state is SlaState.running
    assert at_1530.due_at == ny(2026, 1, 6, 10)  # 150 left: 90 today, 60 more from 9:00

    paused = read_clock(
        DEFAULT_CALENDAR,
        target_minutes=240,
        running=[Interval(created, ny(2026, 1, 5, 10))],
        stopped_at=None,
        now=ny(2026, 1, 9, 12),
    )
    assert (paused.state, paused.due_at, paused.elapsed_seconds) == (SlaState.paused, None, 3600)

    warning = read_clock(
        DEFAULT_CALENDAR,
        target_minutes=240,
        running=running,
        stopped_at=None,
        now=ny(2026, 1, 6, 9, 15),
    )
    assert warning.state is SlaState.warning and warning.remaining_seconds == 45 * 60

    breached = read_clock(
        DEFAULT_CALENDAR,
        target_minutes=240,
        running=running,
        stopped_at=None,
        now=ny(2026, 1, 6, 12),
    )
    assert breached.state is SlaState.breached
    assert breached.due_at == ny(2026, 1, 6, 10)

    met = read_clock(
        DEFAULT_CALENDAR,
        target_minutes=240,
        running=running,
        stopped_at=ny(2026, 1, 5, 16),
        now=ny(2026, 1, 9),
    )
    assert met.state is SlaState.met and met.elapsed_seconds == 120 * 60
