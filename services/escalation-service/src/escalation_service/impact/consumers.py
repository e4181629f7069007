"""Event handlers of the read models: what the ticket-service and billing announce about
tickets and tenant plans."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from escalation_service.impact.service import record_subscription_event, record_ticket_event
from servicekit.consumer import EventRouter, Received
from supportops_events.billing import (
    SubscriptionActivated,
    SubscriptionCanceled,
    SubscriptionCreated,
    SubscriptionEvent,
    SubscriptionUpdated,
)
from supportops_events.tickets import (
    TicketAssigned,
    TicketCreated,
    TicketEvent,
    TicketReopened,
    TicketReplied,
    TicketSlaBreached,
    TicketSlaWarning,
    TicketSolved,
    TicketStatusChanged,
    TicketTriaged,
)

# ticket.escalated is handled by bugs.consumers (it files the bug and records the ticket)
TICKET_EVENTS: tuple[type[TicketEvent], ...] = (
    TicketCreated,
    TicketTriaged,
    TicketAssigned,
    TicketReplied,
    TicketStatusChanged,
    TicketSolved,
    TicketReopened,
    TicketSlaWarning,
    TicketSlaBreached,
)
SUBSCRIPTION_EVENTS: tuple[type[SubscriptionEvent], ...] = (
    SubscriptionCreated,
    SubscriptionActivated,
    SubscriptionUpdated,
    SubscriptionCanceled,
)


async def on_ticket_event(session: AsyncSession, received: Received[TicketEvent]) -> None:
    await record_ticket_event(session, event=received.data, at=received.time)


async def on_subscription_event(
    session: AsyncSession, received: Received[SubscriptionEvent]
) -> None:
    await record_subscription_event(session, event=received.data, at=received.time)


def register(events: EventRouter) -> None:
    # one model per registration: Received[TicketEvent] covers each of them
    for ticket_event in TICKET_EVENTS:
        events.on(ticket_event)(on_ticket_event)
    for subscription_event in SUBSCRIPTION_EVENTS:
        events.on(subscription_event)(on_subscription_event)
