"""Event handlers of the ticket-service: decode an event, call a service function."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.consumer import EventRouter
from supportops_events import Envelope
from supportops_events import billing as b
from supportops_events import escalation as e
from supportops_events import onboarding as o
from ticket_service.access.service import (
    note_user_change,
    record_confirmation_step,
    record_outcome,
)
from ticket_service.accounts import service as accounts
from ticket_service.clock import system_clock
from ticket_service.escalations.service import apply_bug_event
from ticket_service.followups import service as followups

events = EventRouter()


@events.on(
    o.TenantCreated,
    o.TenantActivated,
    o.TenantOnboarded,
    o.TenantSuspended,
    o.TenantReactivated,
    o.TenantChurned,
)
async def on_tenant(session: AsyncSession, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, o.TenantEvent)
    await accounts.apply_tenant_event(session, event, time=envelope.time)


@events.on(
    o.UserInvited,
    o.UserActivated,
    o.UserDeactivated,
    o.UserReactivated,
    o.UserMarkedInactive,
    o.UserLocked,
    o.UserUnlocked,
    o.UserMfaReset,
)
async def on_user(session: AsyncSession, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, o.UserEvent)
    if await accounts.apply_user_event(session, event, time=envelope.time):
        await note_user_change(session, event, at=system_clock())


@events.on(o.AccessActionCompleted, o.AccessActionRejected)
async def on_access_outcome(session: AsyncSession, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, o.AccessActionOutcome)
    await accounts.heard(session, event, time=envelope.time)
    await record_outcome(session, event, at=system_clock())


@events.on(o.AccessConfirmationPending, o.AccessConfirmationFailed)
async def on_access_confirmation(session: AsyncSession, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, o.AccessConfirmationPending | o.AccessConfirmationFailed)
    await accounts.heard(session, event, time=envelope.time)
    await record_confirmation_step(session, event, at=system_clock())


@events.on(
    b.SubscriptionCreated, b.SubscriptionActivated, b.SubscriptionUpdated, b.SubscriptionCanceled
)
async def on_subscription(session: AsyncSession, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, b.SubscriptionEvent)
    await accounts.apply_subscription_event(session, event, time=envelope.time, at=system_clock())


@events.on(
    b.InvoiceFinalized, b.InvoiceSent, b.InvoicePaymentFailed, b.InvoiceOverdue, b.InvoiceVoided
)
async def on_invoice(session: AsyncSession, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, b.InvoiceEvent)
    await accounts.apply_invoice_event(session, event, time=envelope.time)


@events.on(b.InvoicePaid)
async def on_invoice_paid(session: AsyncSession, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, b.InvoicePaid)
    await accounts.apply_invoice_event(session, event, time=envelope.time)
    await followups.invoice_paid(session, event, at=system_clock())


@events.on(b.RenewalUpcoming, b.RenewalInvoiced, b.RenewalAtRisk, b.RenewalCompleted)
async def on_renewal(session: AsyncSession, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, b.RenewalEvent)
    await accounts.apply_renewal_event(session, event, time=envelope.time)


@events.on(b.DisputeOpened, b.DisputeClosed)
async def on_dispute(session: AsyncSession, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, b.DisputeEvent)
    await accounts.apply_dispute_event(session, event, time=envelope.time)


@events.on(b.RefundIssued, b.CreditNoteIssued)
async def on_correction(session: AsyncSession, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, b.RefundIssued | b.CreditNoteIssued)
    await accounts.apply_correction_event(session, event, time=envelope.time)


@events.on(b.BillingFollowupRequired)
async def on_followup_required(session: AsyncSession, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, b.BillingFollowupRequired)
    await accounts.heard(session, event, time=envelope.time)
    await followups.open_followup(session, event, at=system_clock())


@events.on(b.BillingFollowupResolved)
async def on_followup_resolved(session: AsyncSession, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, b.BillingFollowupResolved)
    await accounts.heard(session, event, time=envelope.time)
    await followups.resolve_followup(session, event, at=system_clock())


@events.on(*e.EVENTS)
async def on_bug(session: AsyncSession, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, e.BugEvent)
    await apply_bug_event(session, event, time=envelope.time, at=system_clock())
