"""SLA of tickets as the API shows it, and the stored deadlines behind the lists' state.

The readings of each clock (``ticket_clocks``) are also stored on the ticket as a phase
with ``due_at`` and ``warn_at`` (``store_deadlines``), rewritten at every change that
can move a clock; with ``now`` they give the live SLA state in SQL, which is what the
ticket list filters on. Publishing warnings and breaches (and noting them on the
timeline) is the tickets' part: ``ticket_service.tickets.sla_alerts``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.errors import Conflict, NotFound, Unprocessable
from servicekit.pagination import PageParams
from supportops_events.tickets import SlaMetric
from ticket_service.models import BusinessCalendarRow, SlaPolicy, Ticket
from ticket_service.sla import repository
from ticket_service.sla.business_hours import (
    ClockPhase,
    ClockReading,
    SlaState,
    live_state,
    most_urgent,
)
from ticket_service.sla.holidays import country_holidays
from ticket_service.sla.policy import PolicyBook
from ticket_service.sla.repository import DEADLINE_COLUMNS
from ticket_service.sla.schemas import (
    BusinessCalendarIn,
    BusinessCalendarSettable,
    NextResponseOut,
    SlaClockOut,
    SlaPolicyIn,
    SlaPolicySettable,
    TicketSlaOut,
)
from ticket_service.sla.ticket_clocks import TicketClocks, clocks_of, clocks_of_one

REFRESH_BATCH = 500


# --- what the API shows -----------------------------------------------------------------


def _out(metric: SlaMetric, reading: ClockReading) -> SlaClockOut:
    return SlaClockOut(
        metric=metric,
        target_minutes=reading.target_minutes,
        elapsed_minutes=reading.elapsed_seconds // 60,
        remaining_minutes=reading.remaining_seconds // 60,
        due_at=reading.due_at,
        state=reading.state,
        timezone=reading.timezone,
        due_local=None if reading.due_at is None else reading.due_at.astimezone(reading.zone),
    )


def sla_out(clocks: TicketClocks) -> TicketSlaOut:
    cycle = clocks.current_cycle
    return TicketSlaOut(
        state=clocks.state,
        first_response=_out(SlaMetric.first_response, clocks.first_response),
        next_response=None
        if cycle is None
        else NextResponseOut(
            **_out(SlaMetric.next_response, cycle.reading).model_dump(),
            waiting_since=cycle.started_at,
            answered_at=cycle.stopped_at,
            cycles=len(clocks.next_response),
        ),
        resolution=_out(SlaMetric.resolution, clocks.resolution),
    )


async def ticket_sla(session: AsyncSession, ticket: Ticket, *, now: datetime) -> TicketSlaOut:
    return sla_out(await clocks_of_one(session, ticket, now=now))


# --- stored deadlines and the live state in SQL ----------------------------------------


def store_deadlines(ticket: Ticket, clocks: TicketClocks, *, at: datetime) -> None:
    """Keep each clock's phase and deadlines on the ticket (not a change of the ticket:
    its version and ETag stay)."""
    current = clocks.current()
    for metric, (phase_col, due_col, warn_col) in DEADLINE_COLUMNS.items():
        reading = current.get(metric)
        values: tuple[str | None, datetime | None, datetime | None] = (None, None, None)
        if reading is not None:
            clock = reading[1]
            values = (clock.phase.value, clock.due_at, clock.warn_at)
        for column, value in zip((phase_col, due_col, warn_col), values, strict=True):
            setattr(ticket, column.key, value)
    ticket.sla_refreshed_at = at


def stored_state(ticket: Ticket, *, now: datetime) -> SlaState | None:
    """The live SLA state of a ticket from its stored deadlines (what lists show)."""
    return most_urgent(
        [
            live_state(
                getattr(ticket, phase.key),
                due_at=getattr(ticket, due.key),
                warn_at=getattr(ticket, warn.key),
                now=now,
            )
            for phase, due, warn in DEADLINE_COLUMNS.values()
        ]
    )


def next_due(ticket: Ticket) -> datetime | None:
    """The earliest deadline of a running clock (past when it is breached)."""
    dues = [
        getattr(ticket, due.key)
        for phase, due, _ in DEADLINE_COLUMNS.values()
        if getattr(ticket, phase.key) == ClockPhase.running.value
        and getattr(ticket, due.key) is not None
    ]
    return min(dues, default=None)


async def refresh_many(
    session: AsyncSession, *, at: datetime, where: Iterable[ColumnElement[bool]] = ()
) -> int:
    """Rewrite the deadlines of the active tickets matching ``where`` (a target, a
    calendar or a tenant's plan tier changed); returns how many were rewritten."""
    count = 0
    book = await PolicyBook.load(session)
    last: uuid.UUID | None = None
    while True:
        tickets = await repository.lock_tickets_page(
            session, where=[repository.active(), *where], after=last, limit=REFRESH_BATCH
        )
        if not tickets:
            break
        clocks = await clocks_of(session, tickets, now=at, book=book)
        for ticket in tickets:
            store_deadlines(ticket, clocks[ticket.id], at=at)
        await session.flush()
        count += len(tickets)
        last = tickets[-1].id
    return count


# --- holidays -------------------------------------------------------------------------


async def refresh_country_holidays(session: AsyncSession, *, now: datetime) -> int:
    """Add the public holidays of the current and next year (in each calendar's zone) to
    every calendar that follows a country; dates already there (set by hand, imported,
    or past years) stay. Open tickets' deadlines move with a changed calendar. Returns
    how many calendars changed."""
    rows = await repository.lock_calendars_with_country(session)
    changed = 0
    for row in rows:
        assert row.holiday_country is not None
        year = now.astimezone(ZoneInfo(row.timezone)).year
        wanted = set(row.holidays or []) | country_holidays(row.holiday_country, (year, year + 1))
        row.holidays_refreshed_at = now
        if wanted != set(row.holidays or []):
            row.holidays = sorted(wanted)
            row.version += 1  # caches keyed by version see the new dates
            changed += 1
    await session.flush()
    if changed:
        await refresh_many(session, at=now)
    return changed


# --- calendars and policies (admin) ------------------------------------------------------

MAX_HOLIDAYS = 2000  # twenty years of a busy feed


async def get_calendar(session: AsyncSession, calendar_id: str) -> BusinessCalendarRow:
    row = await repository.get_calendar(session, calendar_id)
    if row is None:
        raise NotFound("business calendar not found")
    return row


async def get_policy(session: AsyncSession, policy_id: uuid.UUID) -> SlaPolicy:
    row = await repository.get_policy(session, policy_id)
    if row is None:
        raise NotFound("SLA policy not found")
    return row


async def calendars_page(
    session: AsyncSession, params: PageParams
) -> tuple[list[BusinessCalendarRow], str | None]:
    return await repository.calendars_page(session, params)


async def policies_page(
    session: AsyncSession, params: PageParams
) -> tuple[list[SlaPolicy], str | None]:
    return await repository.policies_page(session, params)


async def add_calendar(session: AsyncSession, body: BusinessCalendarIn) -> BusinessCalendarRow:
    row = BusinessCalendarRow(
        **body.model_dump(exclude={"workdays", "holidays"}),
        workdays=sorted(set(body.workdays)),
        holidays=sorted(set(body.holidays)),
        version=1,
    )
    if not await repository.insert_unique(session, row):
        raise Conflict("a calendar with this id exists", code="already-exists")
    return row


async def change_calendar(
    session: AsyncSession,
    row: BusinessCalendarRow,
    merged: BusinessCalendarSettable,
    *,
    at: datetime,
) -> None:
    """Store a merged calendar; every open ticket's deadlines move with it, in this
    transaction."""
    row.name, row.timezone = merged.name, merged.timezone
    row.opens, row.closes = merged.opens, merged.closes
    row.workdays = sorted(set(merged.workdays))
    row.holidays = sorted(set(merged.holidays))
    if merged.holiday_country != row.holiday_country:
        row.holiday_country = merged.holiday_country
        row.holidays_refreshed_at = None  # the next scheduler run adds the new country's
    row.version += 1
    await session.flush()
    await refresh_many(session, at=at)


async def add_holidays(
    session: AsyncSession, row: BusinessCalendarRow, days: set[date], *, at: datetime
) -> None:
    """Add ``days`` to the calendar's holidays (422 beyond ``MAX_HOLIDAYS``)."""
    merged = set(row.holidays or []) | days
    if len(merged) > MAX_HOLIDAYS:
        raise ical_problem(f"a calendar holds at most {MAX_HOLIDAYS} holidays", "too-many-holidays")
    if merged != set(row.holidays or []):
        row.holidays = sorted(merged)
        row.version += 1
        await session.flush()
        await refresh_many(session, at=at)


def ical_problem(message: str, code: str) -> Unprocessable:
    return Unprocessable(
        message,
        code=code,
        errors=[{"field": "ical", "in": "body", "message": message, "code": code}],
    )


async def add_policy(session: AsyncSession, body: SlaPolicyIn, *, at: datetime) -> SlaPolicy:
    await get_calendar(session, body.calendar_id)
    row = SlaPolicy(
        id=uuid.uuid4(),
        plan_tier=body.plan_tier,
        priority=body.priority.value,
        first_response_minutes=body.first_response_minutes,
        next_response_minutes=body.next_response_minutes or body.first_response_minutes,
        resolution_minutes=body.resolution_minutes,
        calendar_id=body.calendar_id,
        version=1,
    )
    if not await repository.insert_unique(session, row):
        raise Conflict("a policy for this tier and priority exists", code="already-exists")
    await refresh_many(session, at=at, where=[Ticket.priority == row.priority])
    return row


async def change_policy(
    session: AsyncSession, row: SlaPolicy, merged: SlaPolicySettable, *, at: datetime
) -> None:
    """Store a merged policy; the open tickets of its priority are re-targeted."""
    if merged.calendar_id != row.calendar_id:
        await get_calendar(session, merged.calendar_id)
    row.calendar_id = merged.calendar_id
    row.first_response_minutes = merged.first_response_minutes
    row.next_response_minutes = merged.next_response_minutes or merged.first_response_minutes
    row.resolution_minutes = merged.resolution_minutes
    row.version += 1
    await session.flush()
    await refresh_many(session, at=at, where=[Ticket.priority == row.priority])
