"""Event handlers of the billing-service: a typed payload in, a service function called."""

from __future__ import annotations

from datetime import datetime

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from billing_service.ownership import known_tenants
from billing_service.subscriptions import intents as subscriptions
from billing_service.subscriptions.schemas import SubscriptionIn
from servicekit.consumer import EventRouter, Received, Reject
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


async def _remember(session: AsyncSession, data: TenantEvent, *, at: datetime) -> None:
    """Keep the tenant known, with its status as of ``at`` (an older event never
    overwrites a newer status)."""
    await known_tenants.remember(
        session, tenant_id=str(data.tenant_id), status=data.status.value, at=at
    )


@events.on(TenantCreated)
async def on_tenant_created(session: AsyncSession, received: Received[TenantCreated]) -> None:
    """Record the subscription intent; the Stripe worker creates customer and subscription
    after this transaction commits (never a network call inside the consumer's one). A plan
    billing cannot subscribe to (unknown, archived) becomes a follow-up for a person, not a
    dead letter."""
    data = received.data
    await _remember(session, data, at=received.time)
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


@events.on(TenantActivated, TenantOnboarded, TenantSuspended)
async def on_tenant_progress(
    session: AsyncSession,
    received: Received[TenantActivated | TenantOnboarded | TenantSuspended],
) -> None:
    """Every later ``tenant.*`` event keeps the tenant known (and its status current)."""
    await _remember(session, received.data, at=received.time)


@events.on(TenantReactivated, TenantChurned)
async def on_tenant_back_or_gone(
    session: AsyncSession, received: Received[TenantReactivated | TenantChurned]
) -> None:
    """The rest of the ``tenant.*`` events (the kit takes three models per handler)."""
    await _remember(session, received.data, at=received.time)
