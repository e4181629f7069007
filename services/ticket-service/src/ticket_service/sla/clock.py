"""SLA clocks: elapsed business time with pauses, due dates, and the clock's state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from ticket_service.sla.calendar import (
    BusinessCalendar,
    add_business_seconds,
    business_seconds_between,
)

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


@dataclass(frozen=True)
class ClockReading:
    target_minutes: int
    elapsed_seconds: int
    remaining_seconds: int
    due_at: datetime | None
    """When the target is reached if the clock keeps running; None while paused."""
    state: SlaState


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
    elapsed = 0
    due_at: datetime | None = None
    still_running = False
    for interval in running:
        still_running = interval.end is None and stopped_at is None
        end = min(interval.end or until, until)
        if end <= interval.start:
            continue
        seconds = business_seconds_between(calendar, interval.start, end)
        if due_at is None and elapsed + seconds >= target:
            due_at = add_business_seconds(calendar, interval.start, target - elapsed)
        elapsed += seconds
    remaining = max(target - elapsed, 0)
    if due_at is None and still_running:
        due_at = add_business_seconds(calendar, now, remaining)
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
    )
