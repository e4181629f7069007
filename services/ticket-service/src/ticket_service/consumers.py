"""Event handlers of the ticket-service: a typed event in, a service function called.

Each handler gets ``Received[Model]`` (``servicekit.consumer``): the payload typed, the
event's time (when the producer says it happened: the account context keeps the newest
state by it) and the app's clock (when we processed it: timeline entries, SLA refreshes).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.consumer import EventRouter, Received
from supportops_events import Event
from supportops_events import billing as b
from supportops_events import escalation as e
from supportops_events import onboarding as o
from ticket_service.access.service import (
    note_user_change,
    record_confirmation_step,
    record_outcome,
)
from ticket_service.accounts import service as accounts
from ticket_service.escalations.service import apply_bug_event
from ticket_service.followups import service as followups

events = EventRouter()
BUG_EVENTS = tuple(m for m in e.EVENTS if issubclass(m, e.BugEvent))

E = TypeVar("E", bound=Event)
Handler = Callable[[AsyncSession, Received[E]], Awaitable[None]]


def on_each(*models: type[E]) -> Callable[[Handler[E]], Handler[E]]:
    """One handler for a family of events (``Received`` of their common base): each
    model registered on its own, so the handler stays typed beyond three models."""

    def register(handler: Handler[E]) -> Handler[E]:
        for model in models:
            events.on(model)(handler)
        return handler

    return register


@on_each(
    o.TenantCreated,
    o.TenantActivated,
    o.TenantOnboarded,
    o.TenantSuspended,
    o.TenantReactivated,
    o.TenantChurned,
    o.TenantUpdated,
)
async def on_tenant(session: AsyncSession, received: Received[o.TenantEvent]) -> None:
    await accounts.apply_tenant_event(
        session, received.data, time=received.time, at=received.clock.now()
    )


@on_each(
    o.UserInvited,
    o.UserActivated,
    o.UserDeactivated,
    o.UserReactivated,
    o.UserMarkedInactive,
    o.UserLocked,
    o.UserUnlocked,
    o.UserMfaReset,
)
async def on_user(session: AsyncSession, received: Received[o.UserEvent]) -> None:
    if await accounts.apply_user_event(session, received.data, time=received.time):
        await note_user_change(session, received.data, at=received.clock.now())


@events.on(o.AccessActionCompleted, o.AccessActionRejected)
async def on_access_outcome(
    session: AsyncSession, received: Received[o.AccessActionCompleted | o.AccessActionRejected]
) -> None:
    await accounts.heard(session, received.data, time=received.time)
    await record_outcome(session, received.data, at=received.clock.now())


@events.on(o.AccessConfirmationPending, o.AccessConfirmationFailed)
async def on_access_confirmation(
    session: AsyncSession,
    received: Received[o.AccessConfirmationPending | o.AccessConfirmationFailed],
) -> None:
    await accounts.heard(session, received.data, time=received.time)
    await record_confirmation_step(session, received.data, at=received.clock.now())


@on_each(
    b.SubscriptionCreated, b.SubscriptionActivated, b.SubscriptionUpdated, b.SubscriptionCanceled
)
async def on_subscription(session: AsyncSession, received: Received[b.SubscriptionEvent]) -> None:
    await accounts.apply_subscription_event(
        session, received.data, time=received.time, at=received.clock.now()
    )


@on_each(
    b.InvoiceFinalized,
    b.InvoiceSent,
    b.InvoicePaymentFailed,
    b.InvoiceOverdue,
    b.InvoiceVoided,
    b.InvoicePaid,
)
async def on_invoice(session: AsyncSession, received: Received[b.InvoiceEvent]) -> None:
    await accounts.apply_invoice_event(session, received.data, time=received.time)
    if isinstance(received.data, b.InvoicePaid):
        await followups.invoice_paid(session, received.data, at=received.clock.now())


@on_each(b.RenewalUpcoming, b.RenewalInvoiced, b.RenewalAtRisk, b.RenewalCompleted)
async def on_renewal(session: AsyncSession, received: Received[b.RenewalEvent]) -> None:
    await accounts.apply_renewal_event(session, received.data, time=received.time)


@on_each(b.DisputeOpened, b.DisputeClosed)
async def on_dispute(session: AsyncSession, received: Received[b.DisputeEvent]) -> None:
    await accounts.apply_dispute_event(session, received.data, time=received.time)


@events.on(b.RefundIssued, b.CreditNoteIssued)
async def on_correction(
    session: AsyncSession, received: Received[b.RefundIssued | b.CreditNoteIssued]
) -> None:
    await accounts.apply_correction_event(session, received.data, time=received.time)


@on_each(b.BillingFollowupRequired)
async def on_followup_required(
    session: AsyncSession, received: Received[b.BillingFollowupRequired]
) -> None:
    await accounts.heard(session, received.data, time=received.time)
    await followups.open_followup(session, received.data, at=received.clock.now())


@on_each(b.BillingFollowupResolved)
async def on_followup_resolved(
    session: AsyncSession, received: Received[b.BillingFollowupResolved]
) -> None:
    await accounts.heard(session, received.data, time=received.time)
    await followups.resolve_followup(session, received.data, at=received.clock.now())


@on_each(*BUG_EVENTS)
async def on_bug(session: AsyncSession, received: Received[e.BugEvent]) -> None:
    await apply_bug_event(session, received.data, time=received.time, at=received.clock.now())
