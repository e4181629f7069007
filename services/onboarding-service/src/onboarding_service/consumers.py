"""Event handlers of the onboarding-service: decode an event, call a service function."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from onboarding_service.access.confirmation import CodeGenerator, random_code
from onboarding_service.access.service import (
    ConfirmationPolicy,
    handle_access_request,
    handle_confirmation,
)
from onboarding_service.billing import service as billing
from onboarding_service.clock import Clock
from onboarding_service.config import OnboardingSettings
from servicekit.consumer import EventRouter
from supportops_events import Envelope
from supportops_events import billing as bev
from supportops_events.tickets import AccessActionRequested, AccessConfirmationSubmitted

CONSUMES = ["billing.events", "onboarding.commands"]


def build_events(
    *, clock: Clock, settings: OnboardingSettings, codes: CodeGenerator = random_code
) -> EventRouter:
    events = EventRouter()
    confirmation = ConfirmationPolicy(
        codes=codes,
        ttl=timedelta(minutes=settings.confirmation_code_ttl_minutes),
        attempts=settings.confirmation_code_attempts,
    )

    @events.on(
        bev.SubscriptionCreated,
        bev.SubscriptionActivated,
        bev.SubscriptionUpdated,
        bev.SubscriptionCanceled,
    )
    async def on_subscription(session: AsyncSession, envelope: Envelope) -> None:
        assert isinstance(envelope.data, bev.SubscriptionEvent)
        await billing.apply_subscription(
            session,
            data=envelope.data,
            occurred_at=envelope.time,
            settings=settings,
            now=clock.now(),
        )

    @events.on(bev.InvoicePaid)
    async def on_invoice_paid(session: AsyncSession, envelope: Envelope) -> None:
        assert isinstance(envelope.data, bev.InvoicePaid)
        await billing.apply_invoice_paid(session, data=envelope.data, now=clock.now())

    @events.on(bev.BillingFollowupRequired, bev.InvoiceOverdue, bev.InvoicePaymentFailed)
    async def on_payment_problem(session: AsyncSession, envelope: Envelope) -> None:
        assert isinstance(
            envelope.data,
            bev.BillingFollowupRequired | bev.InvoiceOverdue | bev.InvoicePaymentFailed,
        )
        await billing.apply_payment_problem(
            session, data=envelope.data, settings=settings, now=clock.now()
        )

    @events.on(AccessActionRequested)
    async def on_access_request(session: AsyncSession, envelope: Envelope) -> None:
        assert isinstance(envelope.data, AccessActionRequested)
        await handle_access_request(
            session,
            command=envelope.data,
            now=clock.now(),
            invitation_ttl=timedelta(hours=settings.invitation_ttl_hours),
            confirmation=confirmation,
        )

    @events.on(AccessConfirmationSubmitted)
    async def on_confirmation(session: AsyncSession, envelope: Envelope) -> None:
        assert isinstance(envelope.data, AccessConfirmationSubmitted)
        await handle_confirmation(
            session,
            command=envelope.data,
            now=clock.now(),
            invitation_ttl=timedelta(hours=settings.invitation_ttl_hours),
        )

    return events
