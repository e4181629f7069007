"""Event handlers of the billing-service: decode an event, call a service function."""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from billing_service import ownership
from billing_service.subscriptions import intents as subscriptions
from billing_service.subscriptions.schemas import SubscriptionIn
from servicekit.consumer import EventRouter, Reject
from supportops_events import Envelope
from supportops_events.onboarding import (
    TenantActivated,
    TenantChurned,
    TenantCreated,
    TenantEvent,
    TenantOnboarded,
    TenantReactivated,
    TenantSuspended,
)

events = EventRouter()


@events.on(TenantCreated)
async def on_tenant_created(session: AsyncSession, envelope: Envelope) -> None:
    """Record the subscription intent; the Stripe worker creates customer and subscription
    after this transaction commits (never a network call inside the consumer's one). A plan
    billing cannot subscribe to (unknown, archived) becomes a follow-up for a person, not a
    dead letter."""
    data = envelope.data
    assert isinstance(data, TenantCreated)
    await ownership.hear_tenant(session, envelope)
    try:
        body = SubscriptionIn(
            tenant_id=data.tenant_id,
            plan_code=data.plan_code[:64],
            seats=data.seats,
            collection_method=data.collection_method,
            days_until_due=data.days_until_due,
            billing_email=data.billing_email[:320],
            company_name=data.company_name[:200],
        )
    except ValidationError as exc:  # e.g. more seats or net days than billing accepts
        raise Reject(f"tenant.created cannot become a subscription request: {exc}") from exc
    await subscriptions.record_tenant_request(session, body=body)


async def on_tenant_event(session: AsyncSession, envelope: Envelope) -> None:
    """Every later ``tenant.*`` event keeps the tenant known (and its status current)."""
    assert isinstance(envelope.data, TenantEvent)
    await ownership.hear_tenant(session, envelope)


for _tenant_event in (
    TenantActivated,
    TenantOnboarded,
    TenantSuspended,
    TenantReactivated,
    TenantChurned,
):
    events.on(_tenant_event)(on_tenant_event)
