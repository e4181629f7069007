"""Event handlers of bug reports: an escalated ticket is filed, or linked to the open bug
it duplicates."""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from escalation_service.bugs.service import filing
from escalation_service.bugs.service.common import Context
from escalation_service.impact.service import record_ticket_event
from servicekit.consumer import EventRouter, Received, Reject
from supportops_events.tickets import TicketEscalated


def register(events: EventRouter, *, duplicate_threshold: float) -> None:
    @events.on(TicketEscalated)
    async def on_ticket_escalated(
        session: AsyncSession, received: Received[TicketEscalated]
    ) -> None:
        ticket = received.data
        try:
            report = filing.report_from_ticket(ticket)
        except ValidationError as exc:
            raise Reject(f"escalated ticket cannot be filed: {exc}") from exc
        await record_ticket_event(session, event=ticket, at=received.time)
        # A different event id for a ticket we already filed changes nothing (None).
        await filing.file_escalated_ticket(
            session,
            report=report,
            ctx=Context(actor_id=ticket.escalated_by, now=received.clock.now()),
            duplicate_threshold=duplicate_threshold,
        )
