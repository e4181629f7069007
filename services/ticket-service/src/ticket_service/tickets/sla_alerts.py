"""The SLA alerts of tickets: warnings and breaches published once each and noted on
the ticket's timeline, by the periodic scan and by the refresh after every change.

The ``sla`` feature computes clocks and deadlines and knows nothing of the timeline;
telling the world (and the ticket's history) that a clock warned or breached is the
tickets' part, so ``sla`` never imports ``tickets``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.outbox import publish
from supportops_events.tickets import (
    SlaMetric,
    TicketPriority,
    TicketSlaBreached,
    TicketSlaWarning,
    TicketStatus,
)
from ticket_service.models import Ticket
from ticket_service.sla import repository as sla_repository
from ticket_service.sla.business_hours import ClockReading, SlaState
from ticket_service.sla.policy import PolicyBook
from ticket_service.sla.service import REFRESH_BATCH, store_deadlines
from ticket_service.sla.ticket_clocks import TicketClocks, clocks_of, clocks_of_one
from ticket_service.tickets.timeline import system_note


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
    if reading.due_at is None:
        return None
    if reading.state is SlaState.warning:
        kind = "warning"
    elif reading.state in (SlaState.breached, SlaState.missed):
        kind = "breached"
    else:
        return None
    claimed = await sla_repository.claim_notification(
        session, ticket_id=ticket.id, metric=metric.value, kind=kind, cycle=cycle, at=now
    )
    if not claimed:
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
    last: uuid.UUID | None = None
    while True:
        tickets = await sla_repository.lock_tickets_page(
            session,
            where=[sla_repository.active_or_never_computed()],
            after=last,
            limit=REFRESH_BATCH,
        )
        if not tickets:
            break
        all_clocks = await clocks_of(session, tickets, now=now, book=book)
        for ticket in tickets:
            clocks = all_clocks[ticket.id]
            store_deadlines(ticket, clocks, at=now)
            if ticket.status not in sla_repository.ACTIVE_STATUSES:
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
