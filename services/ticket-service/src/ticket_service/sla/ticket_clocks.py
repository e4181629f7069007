"""The three SLA clocks of a ticket, read from its history.

Three clocks per ticket, all in business time on the ticket's calendar, all running only
while the ticket is ``new`` or ``open`` (paused in ``pending`` and ``on_hold``):

- first response: from creation to the first public reply by an agent;
- next response: from a customer's public reply (after the first response) to the next
  public reply by an agent; one cycle per unanswered customer reply;
- resolution: from creation to the solve (time after a reopen counts again).

Which time zone each clock's business day is in (docs/sla.md, "clock → timezone"): the
response clocks promise an answer from support, so they run on support's calendar as it is
(US Eastern by default); the resolution clock runs the same calendar's hours and days in the
tenant's own time zone, because a resolution takes the customer's working day too (trying a
fix, confirming it). A tenant without a (known) time zone keeps the calendar's.

Solving stops every clock. Each reading is computed from the timeline (status changes
and public replies), never from counters, so it is right whatever the order of changes.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession

from supportops_events.tickets import SlaMetric, TicketPriority, TicketStatus
from ticket_service.models import Ticket
from ticket_service.sla import repository
from ticket_service.sla.business_hours import (
    BusinessCalendar,
    ClockReading,
    Interval,
    SlaState,
    most_urgent,
    read_clock,
)
from ticket_service.sla.policy import PolicyBook, Targets

RUNNING_STATUSES = {TicketStatus.new.value, TicketStatus.open.value}
DONE_STATUSES = ("solved", "closed")
QUERY_CHUNK = 5000


@dataclass(frozen=True)
class ResponseCycle:
    """One wait for the next agent answer: started by a customer's public reply."""

    id: str
    """The timeline entry id of the customer reply that started the wait."""
    started_at: datetime
    stopped_at: datetime | None
    """The agent's public reply (or the solve) that ended the wait."""
    reading: ClockReading


@dataclass(frozen=True)
class TicketClocks:
    targets: Targets
    first_response: ClockReading
    resolution: ClockReading
    next_response: list[ResponseCycle]
    """Every next-response cycle of the ticket, oldest first."""

    @property
    def current_cycle(self) -> ResponseCycle | None:
        return self.next_response[-1] if self.next_response else None

    def current(self) -> dict[SlaMetric, tuple[str, ClockReading]]:
        """The clock of each metric that matters now, with its cycle key."""
        found: dict[SlaMetric, tuple[str, ClockReading]] = {
            SlaMetric.first_response: ("", self.first_response),
            SlaMetric.resolution: ("", self.resolution),
        }
        if (cycle := self.current_cycle) is not None:
            found[SlaMetric.next_response] = (cycle.id, cycle.reading)
        return found

    @property
    def state(self) -> SlaState | None:
        return most_urgent([reading.state for _, reading in self.current().values()])


@dataclass(frozen=True)
class HistoryEntry:
    id: uuid.UUID
    kind: str
    author_type: str
    action: str | None
    current: str | None
    created_at: datetime


def _clip(intervals: list[Interval], start: datetime, stop: datetime | None) -> list[Interval]:
    clipped = []
    for interval in intervals:
        begin = max(interval.start, start)
        end = interval.end
        if stop is not None:
            end = stop if end is None else min(end, stop)
        if end is not None and end <= begin:
            continue
        clipped.append(Interval(begin, end))
    return clipped


def tenant_calendar(calendar: BusinessCalendar, tenant_timezone: str | None) -> BusinessCalendar:
    """The calendar's hours, days and holidays in the tenant's time zone; the calendar
    itself when the tenant has no zone or one this machine does not know."""
    if not tenant_timezone or tenant_timezone == calendar.timezone:
        return calendar
    try:
        ZoneInfo(tenant_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return calendar  # a bad zone from an event must not stop the clocks
    return replace(calendar, timezone=tenant_timezone)


def compute_clocks(
    ticket: Ticket,
    entries: Sequence[HistoryEntry],
    *,
    targets: Targets,
    now: datetime,
    tenant_timezone: str | None = None,
) -> TicketClocks:
    """Walk the ticket's history (status changes and public replies, in order)."""
    intervals: list[Interval] = []
    status, since = TicketStatus.new.value, ticket.created_at
    answered = False  # the first public agent reply was given
    cycles: list[tuple[str, datetime, datetime | None]] = []
    waiting: tuple[str, datetime] | None = None
    for entry in entries:
        if entry.action == "status_changed":
            current = entry.current or ""
            if status in RUNNING_STATUSES and current not in RUNNING_STATUSES:
                intervals.append(Interval(since, entry.created_at))
            elif status not in RUNNING_STATUSES and current in RUNNING_STATUSES:
                since = entry.created_at
            if current in DONE_STATUSES and waiting is not None:
                cycles.append((*waiting, entry.created_at))  # solving ends the wait
                waiting = None
            status = current
        elif entry.author_type == "agent":
            if answered and waiting is not None:
                cycles.append((*waiting, entry.created_at))
                waiting = None
            answered = True
        elif entry.author_type == "customer" and answered and waiting is None:
            waiting = (str(entry.id), entry.created_at)
    if status in RUNNING_STATUSES:
        intervals.append(Interval(since, None))
    if waiting is not None:
        cycles.append((*waiting, None))

    calendar = targets.calendar
    done_at = ticket.solved_at if ticket.status in DONE_STATUSES else None
    first_response = read_clock(
        calendar,
        target_minutes=targets.first_response,
        running=intervals,
        stopped_at=ticket.first_response_at or done_at,
        now=now,
    )
    resolution = read_clock(
        tenant_calendar(calendar, tenant_timezone),
        target_minutes=targets.resolution,
        running=intervals,
        stopped_at=done_at,
        now=now,
    )
    next_response = [
        ResponseCycle(
            id=cycle_id,
            started_at=started,
            stopped_at=stopped,
            reading=read_clock(
                calendar,
                target_minutes=targets.next_response,
                running=_clip(intervals, started, stopped),
                stopped_at=stopped,
                now=now,
            ),
        )
        for cycle_id, started, stopped in cycles
    ]
    return TicketClocks(
        targets=targets,
        first_response=first_response,
        resolution=resolution,
        next_response=next_response,
    )


def clock_history(entries: Iterable[Any]) -> list[HistoryEntry]:
    """The entries the clocks read (status changes and public replies of agents and
    customers) from a ticket's timeline already loaded, oldest first: ``TimelineEntry``
    entities or anything with their attribute names (a ticket page's ``TimelineEntryOut``)."""
    return [
        HistoryEntry(
            e.id, e.kind, e.author_type, e.action, (e.data or {}).get("current"), e.created_at
        )
        for e in entries
        if e.action == "status_changed"
        or (e.kind == "reply" and e.author_type in ("agent", "customer"))
    ]


async def clocks_of(
    session: AsyncSession,
    tickets: Sequence[Ticket],
    *,
    now: datetime,
    book: PolicyBook | None = None,
) -> dict[uuid.UUID, TicketClocks]:
    """The clocks of many tickets: two queries per 5,000 tickets, not one per ticket."""
    if not tickets:
        return {}
    book = book or await PolicyBook.load(session)
    tenants = sorted({t.tenant_id for t in tickets})
    tiers: dict[str, tuple[str | None, str | None]] = {}
    for start in range(0, len(tenants), QUERY_CHUNK):
        tiers.update(await repository.plan_tiers(session, tenants[start : start + QUERY_CHUNK]))
    by_ticket: dict[uuid.UUID, list[HistoryEntry]] = defaultdict(list)
    for start in range(0, len(tickets), QUERY_CHUNK):
        chunk = [t.id for t in tickets[start : start + QUERY_CHUNK]]
        for entry in await repository.history(session, chunk):
            by_ticket[entry[0]].append(HistoryEntry(*entry[1:]))
    clocks: dict[uuid.UUID, TicketClocks] = {}
    for t in tickets:
        tier, zone = tiers.get(t.tenant_id, (None, None))
        clocks[t.id] = compute_clocks(
            t,
            by_ticket[t.id],
            targets=book.lookup(TicketPriority(t.priority), tier),
            now=now,
            tenant_timezone=zone,
        )
    return clocks


async def clocks_of_one(session: AsyncSession, ticket: Ticket, *, now: datetime) -> TicketClocks:
    return (await clocks_of(session, [ticket], now=now))[ticket.id]
