"""SLA clocks of tickets: readings for display, and the scan that emits warnings/breaches."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
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
from ticket_service.sla.clock import ClockReading, Interval, SlaState, read_clock
from ticket_service.sla.policy import policy_for
from ticket_service.sla.schemas import SlaClockOut, TicketSlaOut

RUNNING_STATUSES = {TicketStatus.new.value, TicketStatus.open.value}
ACTIVE_STATUSES = ("new", "open", "pending", "on_hold")


async def running_intervals(session: AsyncSession, ticket: Ticket) -> list[Interval]:
    """When the ticket's clocks ran: in new/open, not in pending/on_hold/solved/closed."""
    changes = (
        await session.scalars(
            select(TimelineEntry)
            .where(TimelineEntry.ticket_id == ticket.id, TimelineEntry.action == "status_changed")
            .order_by(TimelineEntry.created_at, TimelineEntry.seq)
        )
    ).all()
    intervals: list[Interval] = []
    status, since = TicketStatus.new.value, ticket.created_at
    for change in changes:
        current = str(change.data.get("current", ""))
        if status in RUNNING_STATUSES and current not in RUNNING_STATUSES:
            intervals.append(Interval(since, change.created_at))
        elif status not in RUNNING_STATUSES and current in RUNNING_STATUSES:
            since = change.created_at
        status = current
    if status in RUNNING_STATUSES:
        intervals.append(Interval(since, None))
    return intervals


def _out(metric: SlaMetric, reading: ClockReading) -> SlaClockOut:
    return SlaClockOut(
        metric=metric,
        target_minutes=reading.target_minutes,
        elapsed_minutes=reading.elapsed_seconds // 60,
        remaining_minutes=reading.remaining_seconds // 60,
        due_at=reading.due_at,
        state=reading.state,
    )


async def readings(
    session: AsyncSession, ticket: Ticket, *, now: datetime
) -> dict[SlaMetric, ClockReading]:
    account = await session.get(Account, ticket.tenant_id)
    tier = account.plan_tier if account else None
    calendar, first_minutes, resolution_minutes = await policy_for(
        session, priority=TicketPriority(ticket.priority), plan_tier=tier
    )
    running = await running_intervals(session, ticket)
    resolved_at = ticket.solved_at if ticket.status in ("solved", "closed") else None
    return {
        SlaMetric.first_response: read_clock(
            calendar,
            target_minutes=first_minutes,
            running=running,
            stopped_at=ticket.first_response_at,
            now=now,
        ),
        SlaMetric.resolution: read_clock(
            calendar,
            target_minutes=resolution_minutes,
            running=running,
            stopped_at=resolved_at,
            now=now,
        ),
    }


async def ticket_sla(session: AsyncSession, ticket: Ticket, *, now: datetime) -> TicketSlaOut:
    r = await readings(session, ticket, now=now)
    return TicketSlaOut(
        first_response=_out(SlaMetric.first_response, r[SlaMetric.first_response]),
        resolution=_out(SlaMetric.resolution, r[SlaMetric.resolution]),
    )


async def _claim(
    session: AsyncSession, ticket: Ticket, metric: SlaMetric, kind: str, at: datetime
) -> bool:
    inserted = await session.execute(
        insert(SlaNotification)
        .values(ticket_id=ticket.id, metric=metric.value, kind=kind, emitted_at=at)
        .on_conflict_do_nothing()
        .returning(SlaNotification.ticket_id)
    )
    return inserted.first() is not None


async def _notify(
    session: AsyncSession,
    *,
    ticket: Ticket,
    metric: SlaMetric,
    reading: ClockReading,
    now: datetime,
) -> str | None:
    """Publish the warning or breach this reading calls for, unless already published."""
    from ticket_service.tickets.service import system_note  # tickets import this module

    if reading.due_at is None or reading.state not in (SlaState.warning, SlaState.breached):
        return None
    kind = "warning" if reading.state is SlaState.warning else "breached"
    if not await _claim(session, ticket, metric, kind, now):
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
        event = TicketSlaBreached(**common, breached_at=now)
        body = f"{metric.value} SLA breached (was due {reading.due_at.isoformat()})"
        reason = f"target of {reading.target_minutes} business minutes exceeded"
    await publish(session, event)
    await system_note(
        session, ticket=ticket, action=f"sla_{kind}", body=body, at=now, reason=reason
    )
    return kind


async def scan(session: AsyncSession, *, now: datetime) -> dict[str, int]:
    """Emit ``ticket.sla_warning`` / ``ticket.sla_breached`` once each; returns counts."""
    counts = {"warning": 0, "breached": 0}
    tickets = (
        await session.scalars(
            select(Ticket)
            .where(Ticket.status.in_(ACTIVE_STATUSES))
            .with_for_update(skip_locked=True)
        )
    ).all()
    for ticket in tickets:
        for metric, reading in (await readings(session, ticket, now=now)).items():
            kind = await _notify(session, ticket=ticket, metric=metric, reading=reading, now=now)
            if kind is not None:
                counts[kind] += 1
    await session.flush()
    return counts
