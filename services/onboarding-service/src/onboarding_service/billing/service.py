"""Reactions to billing: seats, subscription attached, payment confirmed, suspension at
the end of a canceled subscription (and churn after it), restriction for non-payment and
reactivation. Every handler locks the tenant row, so events of one tenant apply in turn."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from onboarding_service.checklist.service import tick_step
from onboarding_service.checklist.steps import Step
from onboarding_service.config import OnboardingSettings
from onboarding_service.models import Tenant
from onboarding_service.tenants.lifecycle import (
    SUBSCRIPTION_CANCELED,
    TenantStatus,
    transition_tenant,
)
from onboarding_service.tenants.repository import lock_tenant
from supportops_events import billing as bev
from supportops_events import onboarding as ev

BILLING = "billing-service"

logger = logging.getLogger("onboarding_service.billing")

RUNNING = frozenset(
    {
        bev.SubscriptionStatus.incomplete,
        bev.SubscriptionStatus.trialing,
        bev.SubscriptionStatus.active,
        bev.SubscriptionStatus.past_due,
        bev.SubscriptionStatus.unpaid,
        bev.SubscriptionStatus.paused,
    }
)
"""Subscription statuses that are not over (a pending cancellation is undone by them)."""
IN_GOOD_STANDING = frozenset({bev.SubscriptionStatus.trialing, bev.SubscriptionStatus.active})
"""Statuses that bring back a tenant suspended because its subscription ended."""


def churn_delay(settings: OnboardingSettings) -> timedelta | None:
    days = settings.churn_after_cancellation_days
    return timedelta(days=days) if days > 0 else None


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
    settings: OnboardingSettings,
    now: datetime,
) -> None:
    """Every ``subscription.*`` carries the whole subscription; only the newest state
    counts, so a late or replayed event never rolls the seat limit back or revives a
    cancellation the customer took back."""
    tenant = await _tenant(session, data.tenant_id)
    if tenant is None:
        return
    if isinstance(data, bev.SubscriptionCreated):
        await tick_step(
            session,
            tenant=tenant,
            step=Step.subscription_attached,
            now=now,
            by=BILLING,
            source=data.event_type,
        )
    if (
        isinstance(data, bev.SubscriptionActivated)
        and data.collection_method is bev.CollectionMethod.send_invoice
    ):
        # Billing activates a net-terms subscription once the terms are accepted.
        await tick_step(
            session,
            tenant=tenant,
            step=Step.payment_confirmed,
            now=now,
            by=BILLING,
            source=data.event_type,
        )
    newest = tenant.subscription_synced_at is None or occurred_at >= tenant.subscription_synced_at
    if newest:
        tenant.subscription_id = data.subscription_id
        tenant.seat_limit = data.seats
        tenant.subscription_synced_at = occurred_at
        tenant.updated_at = now
        ends_at = _ends_at(data, occurred_at=occurred_at)
        at_period_end = data.cancel_at_period_end and data.status in RUNNING
        if ends_at is not None and at_period_end and ends_at < data.current_period_start:
            # A period that ends before it starts (as stripe-mock reports) says nothing
            # about when service stops: never act on it. Stripe ending the subscription
            # (status canceled) suspends the tenant then.
            logger.warning(
                "tenant %s: period-end cancellation with an impossible period (%s .. %s) ignored",
                tenant.id,
                data.current_period_start.isoformat(),
                ends_at.isoformat(),
            )
        elif ends_at is not None:
            await _schedule_suspension(
                session,
                tenant=tenant,
                ends_at=ends_at,
                now=now,
                churn_after=churn_delay(settings),
                at_period_end=at_period_end,
            )
        elif data.status in RUNNING:
            await _cancellation_revoked(session, tenant=tenant, data=data, now=now)
    await session.flush()


def _ends_at(data: bev.SubscriptionEvent, *, occurred_at: datetime) -> datetime | None:
    """When service stops under this subscription state, or None if it goes on."""
    if isinstance(data, bev.SubscriptionCanceled):
        return data.ends_at
    if data.status is bev.SubscriptionStatus.canceled:
        return occurred_at
    if data.cancel_at_period_end:
        return data.current_period_end
    return None


async def _schedule_suspension(
    session: AsyncSession,
    *,
    tenant: Tenant,
    ends_at: datetime,
    now: datetime,
    churn_after: timedelta | None,
    at_period_end: bool,
) -> None:
    if tenant.status == TenantStatus.churned:
        return
    if tenant.scheduled_suspension_at != ends_at:
        tenant.scheduled_suspension_at = ends_at
        tenant.updated_at = now
    if ends_at <= now and not at_period_end:
        # canceled immediately (or it already ended): no reason to wait. A cancellation
        # at period end is always carried out by the scheduled-suspension scan, at the
        # period end, so a late or odd announcement never suspends on arrival.
        await suspend_for_cancellation(session, tenant=tenant, now=now, churn_after=churn_after)


async def _cancellation_revoked(
    session: AsyncSession, *, tenant: Tenant, data: bev.SubscriptionEvent, now: datetime
) -> None:
    """The subscription goes on: a pending suspension is dropped, and a tenant suspended
    because its subscription had ended comes back once the subscription is in good standing."""
    if tenant.scheduled_suspension_at is not None:
        tenant.scheduled_suspension_at = None
        tenant.updated_at = now
    if (
        tenant.status == TenantStatus.suspended
        and tenant.suspension_reason == ev.SuspensionReason.subscription_canceled
        and data.status in IN_GOOD_STANDING
    ):
        await transition_tenant(
            session,
            tenant=tenant,
            target=TenantStatus.active,
            now=now,
            reactivation_reason=ev.ReactivationReason.subscription_renewed,
        )


async def suspend_for_cancellation(
    session: AsyncSession, *, tenant: Tenant, now: datetime, churn_after: timedelta | None
) -> None:
    """The subscription ended: suspend now, and churn ``churn_after`` later."""
    match TenantStatus(tenant.status):
        case TenantStatus.active:
            await transition_tenant(
                session,
                tenant=tenant,
                target=TenantStatus.suspended,
                now=now,
                suspension_reason=ev.SuspensionReason.subscription_canceled,
            )
            _schedule_churn(tenant, now=now, churn_after=churn_after)
        case TenantStatus.onboarding:
            # Never went live: an onboarding that lost its subscription is over.
            await transition_tenant(
                session,
                tenant=tenant,
                target=TenantStatus.churned,
                now=now,
                churn_reason=SUBSCRIPTION_CANCELED,
            )
        case TenantStatus.suspended:
            # Already blocked (by hand, or for non-payment): no new event, but it is now the
            # end of the subscription that keeps it suspended (a later payment does not
            # bring it back) and the churn clock starts.
            tenant.suspension_reason = ev.SuspensionReason.subscription_canceled.value
            tenant.scheduled_suspension_at = None
            tenant.updated_at = now
            _schedule_churn(tenant, now=now, churn_after=churn_after)
        case TenantStatus.churned:
            tenant.scheduled_suspension_at = None


def _schedule_churn(tenant: Tenant, *, now: datetime, churn_after: timedelta | None) -> None:
    if churn_after is not None and tenant.scheduled_churn_at is None:
        tenant.scheduled_churn_at = now + churn_after


async def churn_after_cancellation(session: AsyncSession, *, tenant: Tenant, now: datetime) -> bool:
    """The grace period after the subscription ended is over: churn (once)."""
    tenant.scheduled_churn_at = None
    if tenant.status != TenantStatus.suspended:
        return False  # reactivated (or churned by hand) meanwhile
    await transition_tenant(
        session,
        tenant=tenant,
        target=TenantStatus.churned,
        now=now,
        churn_reason=SUBSCRIPTION_CANCELED,
    )
    return True


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


def beyond_policy(
    data: bev.BillingFollowupRequired | bev.InvoiceOverdue | bev.InvoicePaymentFailed,
    settings: OnboardingSettings,
) -> bool:
    """Whether a payment problem is past what the billing policy tolerates."""
    match data:
        case bev.InvoiceOverdue():
            return data.days_overdue >= settings.suspend_after_days_overdue
        case bev.InvoicePaymentFailed():
            return data.attempt_count >= settings.suspend_after_failed_attempts
        case bev.BillingFollowupRequired(cause=bev.FollowupCause.invoice_overdue):
            return (
                data.days_overdue is not None
                and data.days_overdue >= settings.suspend_after_days_overdue
            )
        case bev.BillingFollowupRequired(cause=bev.FollowupCause.payment_failed):
            return data.attempt_count >= settings.suspend_after_failed_attempts
        case _:
            return False  # renewal at risk, disputes: a person talks to the customer first


async def apply_payment_problem(
    session: AsyncSession,
    *,
    data: bev.BillingFollowupRequired | bev.InvoiceOverdue | bev.InvoicePaymentFailed,
    settings: OnboardingSettings,
    now: datetime,
) -> None:
    """A payment problem beyond policy restricts a live tenant (suspended, restricted)."""
    if not beyond_policy(data, settings):
        return
    tenant = await _tenant(session, data.tenant_id)
    if tenant is None or tenant.status != TenantStatus.active:
        return  # not live yet, or already blocked: the first problem past policy decided
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
