"""Holidays as data: a country's public holidays from the ``holidays`` library (kept for
the current and next year by the scheduler), and holidays imported from an iCal feed."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays as holiday_data
import icalendar

MAX_EVENT_DAYS = 31  # one iCal event spanning more is a closure, not a holiday list


class InvalidCalendarFeed(ValueError):
    """The iCal text could not be read as a calendar of (all-day or timed) events."""


@functools.cache
def supported_countries() -> frozenset[str]:
    return frozenset(holiday_data.list_supported_countries())


def country_holidays(country: str, years: Iterable[int]) -> set[date]:
    """The public holidays of ``country`` in ``years``, observed days included (a
    Saturday holiday observed on the Friday closes the office on the Friday)."""
    return set(holiday_data.country_holidays(country, years=list(years), observed=True).keys())


def dates_from_ical(text: str, *, timezone: str) -> set[date]:
    """Every day an event of the feed covers. All-day events: DTSTART up to (not
    including) DTEND; timed events: their local dates in the calendar's zone."""
    try:
        feed = icalendar.Calendar.from_ical(text)
    except Exception as exc:  # the parser raises more than ValueError on odd input
        raise InvalidCalendarFeed(f"not an iCalendar text: {exc}") from exc
    if not isinstance(feed, icalendar.Calendar) or feed.name != "VCALENDAR":
        raise InvalidCalendarFeed("not a VCALENDAR")
    zone = ZoneInfo(timezone)
    days: set[date] = set()
    for event in feed.walk("VEVENT"):
        try:
            first, last = _event_days(event, zone)
        except (OverflowError, ValueError) as exc:  # e.g. a time at the edge of year 1
            raise InvalidCalendarFeed(f"an event's dates are out of range: {exc}") from exc
        if (last - first).days >= MAX_EVENT_DAYS:
            raise InvalidCalendarFeed(f"an event spans more than {MAX_EVENT_DAYS} days")
        days.update(first + timedelta(days=n) for n in range((last - first).days + 1))
    return days


def _event_days(event: icalendar.cal.Component, zone: ZoneInfo) -> tuple[date, date]:
    try:
        start = event.get("DTSTART")
        end = event.get("DTEND")
        start_value = getattr(start, "dt", None)
        end_value = getattr(end, "dt", None)
    except Exception as exc:
        raise InvalidCalendarFeed(f"an event has an unreadable date: {exc}") from exc
    if not isinstance(start_value, date):
        raise InvalidCalendarFeed("an event has no DTSTART date")
    first = _local_date(start_value, zone)
    if end_value is None:
        last = first
    elif isinstance(end_value, datetime):
        last = _local_date(end_value - timedelta(microseconds=1), zone)
    elif isinstance(end_value, date):
        last = end_value - timedelta(days=1)  # DTEND of an all-day event is exclusive
    else:
        raise InvalidCalendarFeed("an event's DTEND is not a date")
    return first, max(first, last)


def _local_date(value: date | datetime, zone: ZoneInfo) -> date:
    if isinstance(value, datetime):
        # a floating time (no zone) is the calendar's own wall clock
        return (value if value.tzinfo is None else value.astimezone(zone)).date()
    return value
