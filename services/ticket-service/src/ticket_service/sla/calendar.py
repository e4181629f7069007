"""Business-time arithmetic: pure functions over a calendar, no clock and no I/O.

Business hours are wall-clock hours in the calendar's time zone, so a working day
stays 09:00-17:00 local on both sides of a daylight-saving change; converting each
day's window to UTC separately is what keeps the arithmetic right across the change.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MAX_DAYS_SCANNED = 3660  # ten years: a guard against calendars with no working time


@dataclass(frozen=True)
class BusinessCalendar:
    timezone: str = "America/New_York"
    workdays: frozenset[int] = field(default_factory=lambda: frozenset({0, 1, 2, 3, 4}))
    """ISO weekdays counted from Monday = 0."""
    opens: time = time(9, 0)
    closes: time = time(17, 0)
    holidays: frozenset[date] = field(default_factory=frozenset)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def window(self, day: date) -> tuple[datetime, datetime] | None:
        """The working window of a local date, in UTC; None on days off."""
        if day.weekday() not in self.workdays or day in self.holidays:
            return None
        zone = self.zone
        start = datetime.combine(day, self.opens, tzinfo=zone).astimezone(UTC)
        end = datetime.combine(day, self.closes, tzinfo=zone).astimezone(UTC)
        return start, end

    def _windows_from(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        day = moment.astimezone(self.zone).date()
        for offset in range(MAX_DAYS_SCANNED):
            window = self.window(day + timedelta(days=offset))
            if window is not None:
                yield window


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("business-time arithmetic needs timezone-aware datetimes")
    return moment.astimezone(UTC)


def business_seconds_between(calendar: BusinessCalendar, start: datetime, end: datetime) -> int:
    """Working seconds in [start, end); zero when end is not after start."""
    start, end = _aware(start), _aware(end)
    if end <= start:
        return 0
    total = 0.0
    for opens, closes in calendar._windows_from(start):
        if opens >= end:
            break
        overlap_start, overlap_end = max(opens, start), min(closes, end)
        if overlap_end > overlap_start:
            total += (overlap_end - overlap_start).total_seconds()
    return int(total)


def business_minutes_between(calendar: BusinessCalendar, start: datetime, end: datetime) -> int:
    return business_seconds_between(calendar, start, end) // 60


def add_business_seconds(calendar: BusinessCalendar, start: datetime, seconds: int) -> datetime:
    """The moment ``seconds`` of working time after ``start``."""
    start = _aware(start)
    if seconds < 0:
        raise ValueError("seconds must not be negative")
    remaining = float(seconds)
    for opens, closes in calendar._windows_from(start):
        if closes <= start:
            continue
        begin = max(opens, start)
        available = (closes - begin).total_seconds()
        if remaining <= available:
            # zero remaining at a day's close means the close itself, not the next opening
            return begin + timedelta(seconds=remaining)
        remaining -= available
    raise ValueError("the calendar has no working time in the scanned range")


def add_business_minutes(calendar: BusinessCalendar, start: datetime, minutes: int) -> datetime:
    return add_business_seconds(calendar, start, minutes * 60)


DEFAULT_CALENDAR = BusinessCalendar()
