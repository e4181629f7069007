"""Reactions to billing: seats, subscription attached, payment confirmed, suspension and
reactivation. Every handler locks the tenant row, so events of one tenant apply in turn."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from onboarding_service.checklist.service import tick_step
from onboarding_service.checklist.steps import Step
from onboarding_service.config import OnboardingSettings
from onboarding_service.domain import TenantStatus
from onboarding_service.models import Tenant
from onboarding_service.tenants.lifecycle import transition_tenant
from onboarding_service.users.repository import lock_tenant
from supportops_events import billing as bev
from supportops_events import onboarding as ev

BILLING = "billing-service"


async def _tenant(session: AsyncSession, tenant_id: str) -> Tenant | None:
    try:
        key = uuid.UUID(tenant_id)
    except ValueError:
        return None  # not one of ours
    return await lock_tenant(session, key)


async def apply_subscription(
    session: AsyncSession,
    *,
    data: bev.SubscriptionEvent,
    occurred_at: datetime,
    now: datetime,
) -> None:
    """Seats and subscription from any ``subscription.*``; older states are ignored, so a
    late or replayed event under a new id never rolls the seat limit back."""
    tenant = await _tenant(session, data.tenant_id)
    if tenant is None:
        return
    if tenant.subscription_synced_at is None or occurred_at >= tenant.subscription_synced_at:
        tenant.subscription_id = data.subscription_id
        tenant.seat_limit = data.seats
        tenant.subscription_synced_at = occurred_at
        tenant.updated_at = now
    if isinstance(data, bev.SubscriptionCreated):
        await tick_step(
            session,
            tenant=tenant,
            step=Step.subscription_attached,
            now=now,
            by=BILLING,
            source=data.event_type,
        )
    if isinstance(data, bev.SubscriptionCanceled):
        await _schedule_suspension(session, tenant=tenant, ends_at=data.ends_at, now=now)
    await session.flush()


async def _schedule_suspension(
    session: AsyncSession, *, tenant: Tenant, ends_at: datetime, now: datetime
) -> None:
    if tenant.status in {TenantStatus.churned, TenantStatus.suspended}:
        return
    tenant.scheduled_suspension_at = ends_at
    tenant.updated_at = now
    if ends_at <= now:  # canceled immediately: no reason to wait for the scan
        await suspend_for_cancellation(session, tenant=tenant, now=now)


async def suspend_for_cancellation(session: AsyncSession, *, tenant: Tenant, now: datetime) -> None:
    match TenantStatus(tenant.status):
        case TenantStatus.active:
            await transition_tenant(
                session,
                tenant=tenant,
                target=TenantStatus.suspended,
                now=now,
                suspension_reason=ev.SuspensionReason.subscription_canceled,
            )
        case TenantStatus.onboarding:
            # Never went live: an onboarding that lost its subscription is over.
            await transition_tenant(
                session,
                tenant=tenant,
                target=TenantStatus.churned,
                now=now,
                suspension_reason=ev.SuspensionReason.subscription_canceled,
            )
        case _:
            tenant.scheduled_suspension_at = None


async def apply_invoice_paid(
    session: AsyncSession, *, data: bev.InvoicePaid, now: datetime
) -> None:
    tenant = await _tenant(session, data.tenant_id)
    if tenant is None:
        return
    await tick_step(
        session,
        tenant=tenant,
        step=Step.payment_confirmed,
        now=now,
        by=BILLING,
        source=data.event_type,
    )
    if (
        tenant.status == TenantStatus.suspended
        and tenant.suspension_reason == ev.SuspensionReason.payment_overdue
    ):
        await transition_tenant(
            session,
            tenant=tenant,
            target=TenantStatus.active,
            now=now,
            reactivation_reason=ev.ReactivationReason.payment_received,
            invoice_id=data.invoice_id,
        )
    await session.flush()


def beyond_policy(data: bev.BillingFollowupRequired, settings: OnboardingSettings) -> bool:
    match data.cause:
        case bev.FollowupCause.invoice_overdue:
            return (data.days_overdue or 0) >= settings.suspend_after_days_overdue
        case bev.FollowupCause.payment_failed:
            return data.attempt_count >= settings.suspend_after_failed_attempts
        case _:
            return False


async def apply_followup(
    session: AsyncSession,
    *,
    data: bev.BillingFollowupRequired,
    settings: OnboardingSettings,
    now: datetime,
) -> None:
    """A payment problem beyond policy restricts the tenant (suspended, restricted)."""
    if not beyond_policy(data, settings):
        return
    tenant = await _tenant(session, data.tenant_id)
    if tenant is None or tenant.status != TenantStatus.active:
        return
    await transition_tenant(
        session,
        tenant=tenant,
        target=TenantStatus.suspended,
        now=now,
        suspension_reason=ev.SuspensionReason.payment_overdue,
        invoice_id=data.invoice_id,
        restricted=True,
    )
    await session.flush()
