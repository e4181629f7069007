"""SLA clocks of tickets: live readings, the stored deadlines behind the lists' SLA state,
and the scan that emits warnings and breaches.

Three clocks per ticket, all in business time on the ticket's calendar, all running only
while the ticket is ``new`` or ``open`` (paused in ``pending`` and ``on_hold``):

- first response: from creation to the first public reply by an agent;
- next response: from a customer's public reply (after the first response) to the next
  public reply by an agent; one cycle per unanswered customer reply;
- resolution: from creation to the solve (time after a reopen counts again).

Solving stops every clock. Each reading is computed from the timeline (status changes
and public replies), never from counters, so it is right whatever the order of changes.
The readings of each clock are also stored on the ticket as a phase with ``due_at`` and
``warn_at`` (``store_deadlines``), rewritten at every change that can move a clock; with
``now`` they give the live SLA state in SQL, which is what the ticket list filters on.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.outbox import publish
from supportops_events.tickets import (
    SlaMetric,
    TicketPriority,
    TicketSlaBreached,
    TicketSlaWarning,
    TicketStatus,
)
from ticket_service.models import Account, SlaNotification, Ticket, TimelineEntry
from ticket_service.sla.clock import (
    STATE_URGENCY,
    ClockPhase,
    ClockReading,
    Interval,
    SlaState,
    live_state,
    most_urgent,
    read_clock,
)
from ticket_service.sla.policy import PolicyBook, Targets
from ticket_service.sla.schemas import NextResponseOut, SlaClockOut, TicketSlaOut

RUNNING_STATUSES = {TicketStatus.new.value, TicketStatus.open.value}
ACTIVE_STATUSES = ("new", "open", "pending", "on_hold")
DONE_STATUSES = ("solved", "closed")
REFRESH_BATCH = 500
QUERY_CHUNK = 5000


# --- reading the clocks -----------------------------------------------------------------


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


def compute_clocks(
    ticket: Ticket, entries: Sequence[HistoryEntry], *, targets: Targets, now: datetime
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
        calendar,
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


def clock_history(entries: Iterable[TimelineEntry]) -> list[HistoryEntry]:
    """The entries the clocks read (status changes and public replies of agents and
    customers) from a ticket's timeline already loaded, oldest first."""
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
    tiers: dict[str, str | None] = {}
    for start in range(0, len(tenants), QUERY_CHUNK):
        rows = await session.execute(
            select(Account.tenant_id, Account.plan_tier).where(
                Account.tenant_id.in_(tenants[start : start + QUERY_CHUNK])
            )
        )
        tiers.update(rows.tuples().all())
    by_ticket: dict[uuid.UUID, list[HistoryEntry]] = defaultdict(list)
    for start in range(0, len(tickets), QUERY_CHUNK):
        chunk = [t.id for t in tickets[start : start + QUERY_CHUNK]]
        for entry in await _history(session, chunk):
            by_ticket[entry[0]].append(HistoryEntry(*entry[1:]))
    return {
        t.id: compute_clocks(
            t,
            by_ticket[t.id],
            targets=book.lookup(TicketPriority(t.priority), tiers.get(t.tenant_id)),
            now=now,
        )
        for t in tickets
    }


async def _history(
    session: AsyncSession, ticket_ids: list[uuid.UUID]
) -> Sequence[tuple[uuid.UUID, uuid.UUID, str, str, str | None, str | None, datetime]]:
    rows = await session.execute(
        select(
            TimelineEntry.ticket_id,
            TimelineEntry.id,
            TimelineEntry.kind,
            TimelineEntry.author_type,
            TimelineEntry.action,
            TimelineEntry.data["current"].astext,
            TimelineEntry.created_at,
        )
        .where(
            TimelineEntry.ticket_id.in_(ticket_ids),
            or_(
                TimelineEntry.action == "status_changed",
                and_(
                    TimelineEntry.kind == "reply",
                    TimelineEntry.author_type.in_(("agent", "customer")),
                ),
            ),
        )
        .order_by(TimelineEntry.ticket_id, TimelineEntry.created_at, TimelineEntry.seq)
    )
    return rows.tuples().all()


async def clocks_of_one(session: AsyncSession, ticket: Ticket, *, now: datetime) -> TicketClocks:
    return (await clocks_of(session, [ticket], now=now))[ticket.id]


# --- what the API shows -----------------------------------------------------------------


def _out(metric: SlaMetric, reading: ClockReading) -> SlaClockOut:
    return SlaClockOut(
        metric=metric,
        target_minutes=reading.target_minutes,
        elapsed_minutes=reading.elapsed_seconds // 60,
        remaining_minutes=reading.remaining_seconds // 60,
        due_at=reading.due_at,
        state=reading.state,
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

_COLUMNS = {
    SlaMetric.first_response: (
        Ticket.sla_first_response_phase,
        Ticket.sla_first_response_due_at,
        Ticket.sla_first_response_warn_at,
    ),
    SlaMetric.next_response: (
        Ticket.sla_next_response_phase,
        Ticket.sla_next_response_due_at,
        Ticket.sla_next_response_warn_at,
    ),
    SlaMetric.resolution: (
        Ticket.sla_resolution_phase,
        Ticket.sla_resolution_due_at,
        Ticket.sla_resolution_warn_at,
    ),
}


def store_deadlines(ticket: Ticket, clocks: TicketClocks, *, at: datetime) -> None:
    """Keep each clock's phase and deadlines on the ticket (not a change of the ticket:
    its version and ETag stay)."""
    current = clocks.current()
    for metric, (phase_col, due_col, warn_col) in _COLUMNS.items():
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
            for phase, due, warn in _COLUMNS.values()
        ]
    )


def next_due(ticket: Ticket) -> datetime | None:
    """The earliest deadline of a running clock (past when it is breached)."""
    dues = [
        getattr(ticket, due.key)
        for phase, due, _ in _COLUMNS.values()
        if getattr(ticket, phase.key) == ClockPhase.running.value
        and getattr(ticket, due.key) is not None
    ]
    return min(dues, default=None)


_UNKNOWN_RANK = len(STATE_URGENCY)


def _rank_sql(metric: SlaMetric, now: datetime) -> ColumnElement[int]:
    phase, due, warn = _COLUMNS[metric]
    rank = {state.value: n for n, state in enumerate(STATE_URGENCY)}
    return case(
        (and_(phase == "running", due <= now), rank["breached"]),
        (and_(phase == "running", warn <= now), rank["warning"]),
        *((phase == value, n) for value, n in rank.items()),
        else_=_UNKNOWN_RANK,
    )


def sla_state_is(state: SlaState, *, now: datetime) -> ColumnElement[bool]:
    """SQL: the ticket's live SLA state (its most urgent clock) is ``state``."""
    least = func.least(*(_rank_sql(metric, now) for metric in _COLUMNS))
    return least == STATE_URGENCY.index(state)


async def refresh(session: AsyncSession, ticket: Ticket, *, at: datetime) -> TicketClocks:
    """Re-read the ticket's clocks after a change: store the deadlines, and publish the
    breach of a clock that just stopped too late if the scan had not published it yet."""
    clocks = await clocks_of_one(session, ticket, now=at)
    store_deadlines(ticket, clocks, at=at)
    for metric, (cycle, reading) in clocks.current().items():
        if reading.state is SlaState.missed:
            await _notify(
                session, ticket=ticket, metric=metric, cycle=cycle, reading=reading, now=at
            )
    await session.flush()
    return clocks


async def refresh_many(
    session: AsyncSession, *, at: datetime, where: Iterable[ColumnElement[bool]] = ()
) -> int:
    """Rewrite the deadlines of the active tickets matching ``where`` (a target, a
    calendar or a tenant's plan tier changed); returns how many were rewritten."""
    stmt: Select[tuple[Ticket]] = (
        select(Ticket)
        .where(Ticket.status.in_(ACTIVE_STATUSES), *where)
        .order_by(Ticket.id)
        .with_for_update(skip_locked=True)
    )
    count = 0
    book = await PolicyBook.load(session)
    last: uuid.UUID | None = None
    while True:
        page = stmt if last is None else stmt.where(Ticket.id > last)
        tickets = (await session.scalars(page.limit(REFRESH_BATCH))).all()
        if not tickets:
            break
        clocks = await clocks_of(session, tickets, now=at, book=book)
        for ticket in tickets:
            store_deadlines(ticket, clocks[ticket.id], at=at)
        await session.flush()
        count += len(tickets)
        last = tickets[-1].id
    return count


# --- the scan ---------------------------------------------------------------------------


async def _claim(
    session: AsyncSession,
    ticket: Ticket,
    metric: SlaMetric,
    kind: str,
    cycle: str,
    at: datetime,
) -> bool:
    inserted = await session.execute(
        insert(SlaNotification)
        .values(ticket_id=ticket.id, metric=metric.value, kind=kind, cycle=cycle, emitted_at=at)
        .on_conflict_do_nothing()
        .returning(SlaNotification.ticket_id)
    )
    return inserted.first() is not None


async def _notify(
    session: AsyncSession,
    *,
    ticket: Ticket,
    metric: SlaMetric,
    cycle: str,
    reading: ClockReading,
    now: datetime,
) -> str | None:
    """Publish the warning or breach this reading calls for, unless already published.

    A clock that stopped after its due time (``missed``) is a breach too: the scan may
    not have run between the due time and the stop.
    """
    from ticket_service.tickets.service import system_note  # tickets import this module

    if reading.due_at is None:
        return None
    if reading.state is SlaState.warning:
        kind = "warning"
    elif reading.state in (SlaState.breached, SlaState.missed):
        kind = "breached"
    else:
        return None
    if not await _claim(session, ticket, metric, kind, cycle, now):
        return None
    common: dict[str, Any] = {
        "tenant_id": ticket.tenant_id,
        "ticket_id": str(ticket.id),
        "status": TicketStatus(ticket.status),
        "metric": metric,
        "priority": TicketPriority(ticket.priority),
        "assignee_id": ticket.assignee_id,
        "queue": ticket.queue,
        "due_at": reading.due_at,
    }
    if kind == "warning":
        event: TicketSlaWarning | TicketSlaBreached = TicketSlaWarning(
            **common, remaining_seconds=reading.remaining_seconds
        )
        body = f"{metric.value} SLA due at {reading.due_at.isoformat()}"
        reason = f"{reading.remaining_seconds // 60} business minutes left"
    else:
        event = TicketSlaBreached(**common, breached_at=reading.due_at)
        body = f"{metric.value} SLA breached (was due {reading.due_at.isoformat()})"
        reason = f"target of {reading.target_minutes} business minutes exceeded"
    await publish(session, event)
    await system_note(
        session,
        ticket=ticket,
        action=f"sla_{kind}",
        body=body,
        at=now,
        reason=reason,
        data={"metric": metric.value, "cycle": cycle or None, "due_at": reading.due_at.isoformat()},
    )
    return kind


async def scan(session: AsyncSession, *, now: datetime) -> dict[str, int]:
    """Emit ``ticket.sla_warning`` / ``ticket.sla_breached`` once each; returns counts.

    Every active ticket is read, and its stored deadlines are rewritten on the way, as
    are those of any ticket never computed yet: a run heals any drift.
    """
    counts = {"warning": 0, "breached": 0}
    book = await PolicyBook.load(session)
    stmt = (
        select(Ticket)
        .where(or_(Ticket.status.in_(ACTIVE_STATUSES), Ticket.sla_refreshed_at.is_(None)))
        .order_by(Ticket.id)
        .with_for_update(skip_locked=True)
    )
    last: uuid.UUID | None = None
    while True:
        page = stmt if last is None else stmt.where(Ticket.id > last)
        tickets = (await session.scalars(page.limit(REFRESH_BATCH))).all()
        if not tickets:
            break
        all_clocks = await clocks_of(session, tickets, now=now, book=book)
        for ticket in tickets:
            clocks = all_clocks[ticket.id]
            store_deadlines(ticket, clocks, at=now)
            if ticket.status not in ACTIVE_STATUSES:
                continue
            for metric, (cycle, reading) in clocks.current().items():
                kind = await _notify(
                    session, ticket=ticket, metric=metric, cycle=cycle, reading=reading, now=now
                )
                if kind is not None:
                    counts[kind] += 1
        await session.flush()
        last = tickets[-1].id
    return counts
