"""Business hours: time arithmetic over a calendar, and the SLA clock readings built on it.

Pure functions, no time source and no I/O (``now`` is always passed in). Named for what
it does so it is not mistaken for the service's clock (the time source).

Business hours are wall-clock hours in the calendar's time zone, so a working day
stays 09:00-17:00 local on both sides of a daylight-saving change; converting each
day's window to UTC separately is what keeps the arithmetic right across the change.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

MAX_DAYS_SCANNED = 3660  # ten years: a guard against calendars with no working time
WINDOW_CACHE_SIZE = 4096  # (calendar, day) windows: ~11 years of one calendar, under 1 MiB


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
        return _window(self, day)

    def _windows_from(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        day = moment.astimezone(self.zone).date()
        for offset in range(MAX_DAYS_SCANNED):
            window = _window(self, day + timedelta(days=offset))
            if window is not None:
                yield window


@lru_cache(maxsize=WINDOW_CACHE_SIZE)
def _window(calendar: BusinessCalendar, day: date) -> tuple[datetime, datetime] | None:
    """A day's window depends on the calendar's value and the date alone (the calendar is
    frozen and compared by value), so it is computed once per (calendar, day): a ticket
    page reads its clocks over the same few days on every request, and an SLA scan reads
    thousands of tickets over the same weeks."""
    if day.weekday() not in calendar.workdays or day in calendar.holidays:
        return None
    zone = calendar.zone
    start = datetime.combine(day, calendar.opens, tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day, calendar.closes, tzinfo=zone).astimezone(UTC)
    return start, end


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


# --- SLA clock readings: elapsed business time with pauses, due dates, states ------

WARNING_SHARE = 0.25
"""A clock warns once less than this share of its target is left."""


class SlaState(StrEnum):
    running = "running"
    paused = "paused"
    warning = "warning"
    breached = "breached"
    met = "met"
    missed = "missed"
    """Stopped, but after the due time."""


@dataclass(frozen=True)
class Interval:
    """A stretch of time during which the clock runs; ``end`` None means still running."""

    start: datetime
    end: datetime | None


class ClockPhase(StrEnum):
    """What a clock was doing when last read; with ``due_at``/``warn_at`` and the time
    it gives the live state (``live_state``) without reading the clock again."""

    running = "running"
    paused = "paused"
    breached = "breached"
    """Paused after its target was reached."""
    met = "met"
    missed = "missed"


# Most urgent first: a ticket's SLA state is the most urgent state of its clocks.
STATE_URGENCY = (
    SlaState.breached,
    SlaState.warning,
    SlaState.running,
    SlaState.paused,
    SlaState.missed,
    SlaState.met,
)


@dataclass(frozen=True)
class ClockReading:
    target_minutes: int
    elapsed_seconds: int
    remaining_seconds: int
    due_at: datetime | None
    """When the target is (or was) reached if the clock keeps running; None while
    paused short of it."""
    state: SlaState
    warn_at: datetime | None = None
    """When the warning starts (under 25% left), same rule as ``due_at``."""
    running: bool = False
    """Whether the clock is running now (not paused, not stopped)."""
    stopped: bool = False
    timezone: str = DEFAULT_CALENDAR.timezone
    """The zone of the business day the clock counted (its calendar's)."""

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def phase(self) -> ClockPhase:
        if self.stopped:
            return ClockPhase.met if self.state is SlaState.met else ClockPhase.missed
        if self.running:
            return ClockPhase.running
        if self.state is SlaState.breached:
            return ClockPhase.breached
        return ClockPhase.paused


def warning_threshold_seconds(target_seconds: int) -> int:
    """Elapsed seconds from which a clock warns (``remaining <= target * share``)."""
    return target_seconds - int(target_seconds * WARNING_SHARE)


def live_state(
    phase: ClockPhase | str | None,
    *,
    due_at: datetime | None,
    warn_at: datetime | None,
    now: datetime,
) -> SlaState | None:
    """The state of a clock at ``now`` from its stored phase and deadlines."""
    if phase is None:
        return None
    phase = ClockPhase(phase)
    if phase is ClockPhase.running:
        if due_at is not None and now >= due_at:
            return SlaState.breached
        if warn_at is not None and now >= warn_at:
            return SlaState.warning
        return SlaState.running
    return SlaState(phase.value)


def most_urgent(states: list[SlaState | None]) -> SlaState | None:
    present = [s for s in states if s is not None]
    return min(present, key=STATE_URGENCY.index) if present else None


def read_clock(
    calendar: BusinessCalendar,
    *,
    target_minutes: int,
    running: list[Interval],
    stopped_at: datetime | None,
    now: datetime,
) -> ClockReading:
    """Read a clock that ran during ``running`` (paused in between), stopped or not.

    ``due_at`` is the moment the target was (or will be, if the clock keeps running)
    reached; None while the clock is paused short of its target.
    """
    until = stopped_at or now
    target = target_minutes * 60
    threshold = warning_threshold_seconds(target)
    elapsed = 0
    due_at: datetime | None = None
    warn_at: datetime | None = None
    still_running = False
    for interval in running:
        still_running = interval.end is None and stopped_at is None
        if still_running:
            # counted from the start of the running stretch, not from now, so the
            # deadlines do not depend on when the clock is read
            if due_at is None:
                due_at = add_business_seconds(calendar, interval.start, target - elapsed)
            if warn_at is None:
                warn_at = add_business_seconds(calendar, interval.start, threshold - elapsed)
        end = min(interval.end or until, until)
        if end <= interval.start:
            continue
        seconds = business_seconds_between(calendar, interval.start, end)
        if warn_at is None and elapsed + seconds >= threshold:
            warn_at = add_business_seconds(calendar, interval.start, threshold - elapsed)
        if due_at is None and elapsed + seconds >= target:
            due_at = add_business_seconds(calendar, interval.start, target - elapsed)
        elapsed += seconds
    remaining = max(target - elapsed, 0)
    if stopped_at is not None:
        state = SlaState.met if elapsed <= target else SlaState.missed
    elif elapsed >= target:
        state = SlaState.breached
    elif not still_running:
        state = SlaState.paused
    elif remaining <= target * WARNING_SHARE:
        state = SlaState.warning
    else:
        state = SlaState.running
    return ClockReading(
        target_minutes=target_minutes,
        elapsed_seconds=elapsed,
        remaining_seconds=remaining,
        due_at=due_at,
        state=state,
        warn_at=warn_at,
        running=still_running,
        stopped=stopped_at is not None,
        timezone=calendar.timezone,
    )
