"""Handlers of ``billing.events``: each hands its typed payload to ``billing.service``."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from onboarding_service.billing import service as billing
from onboarding_service.config import OnboardingSettings
from servicekit.consumer import EventRouter, Received
from supportops_events import billing as bev


def register(events: EventRouter, *, settings: OnboardingSettings) -> None:
    # every subscription.* carries the whole subscription: one service call for all four
    # (one handler per model beyond three: Received is typed by what it was registered for)
    @events.on(bev.SubscriptionCreated, bev.SubscriptionActivated, bev.SubscriptionUpdated)
    async def on_subscription(
        session: AsyncSession,
        received: Received[
            bev.SubscriptionCreated | bev.SubscriptionActivated | bev.SubscriptionUpdated
        ],
    ) -> None:
        await billing.apply_subscription(
            session,
            data=received.data,
            occurred_at=received.time,
            settings=settings,
            now=received.clock.now(),
        )

    @events.on(bev.SubscriptionCanceled)
    async def on_subscription_canceled(
        session: AsyncSession, received: Received[bev.SubscriptionCanceled]
    ) -> None:
        await billing.apply_subscription(
            session,
            data=received.data,
            occurred_at=received.time,
            settings=settings,
            now=received.clock.now(),
        )

    @events.on(bev.InvoicePaid)
    async def on_invoice_paid(session: AsyncSession, received: Received[bev.InvoicePaid]) -> None:
        await billing.apply_invoice_paid(session, data=received.data, now=received.clock.now())

    @events.on(bev.BillingFollowupRequired, bev.InvoiceOverdue, bev.InvoicePaymentFailed)
    async def on_payment_problem(
        session: AsyncSession,
        received: Received[
            bev.BillingFollowupRequired | bev.InvoiceOverdue | bev.InvoicePaymentFailed
        ],
    ) -> None:
        await billing.apply_payment_problem(
            session, data=received.data, settings=settings, now=received.clock.now()
        )
