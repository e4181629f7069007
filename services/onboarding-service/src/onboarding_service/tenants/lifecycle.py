"""A tenant's statuses and its status machine: one match per transition, exactly one event
each."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from onboarding_service.models import Tenant
from onboarding_service.tenants.configuration import DEFAULT_TIMEZONE
from servicekit.errors import InvalidTransition
from servicekit.outbox import publish
from supportops_events import onboarding as ev


class TenantStatus(StrEnum):
    onboarding = "onboarding"
    """Created, not live yet (the catalog's ``pending``)."""
    active = "active"
    suspended = "suspended"
    churned = "churned"
    """The customer left for good: terminal."""


def event_tenant_status(status: TenantStatus | str) -> ev.TenantStatus:
    """The catalog calls an onboarding tenant ``pending``; the other statuses match."""
    match TenantStatus(status):
        case TenantStatus.onboarding:
            return ev.TenantStatus.pending
        case TenantStatus.active:
            return ev.TenantStatus.active
        case TenantStatus.suspended:
            return ev.TenantStatus.suspended
        case TenantStatus.churned:
            return ev.TenantStatus.churned


ALLOWED: dict[TenantStatus, frozenset[TenantStatus]] = {
    # An onboarding that never went live can be closed (e.g. its subscription was canceled).
    TenantStatus.onboarding: frozenset({TenantStatus.active, TenantStatus.churned}),
    TenantStatus.active: frozenset({TenantStatus.suspended, TenantStatus.churned}),
    TenantStatus.suspended: frozenset({TenantStatus.active, TenantStatus.churned}),
    TenantStatus.churned: frozenset(),
}


def tenant_timezone(tenant: Tenant) -> str:
    """The tenant's configured IANA time zone, carried on every ``tenant.*`` event."""
    return str((tenant.configuration or {}).get("timezone") or DEFAULT_TIMEZONE)


MANUAL_CHURN = "manual"
SUBSCRIPTION_CANCELED = "subscription_canceled"
"""The churn reason when a subscription ended (before go-live, or after the grace period)."""


async def transition_tenant(
    session: AsyncSession,
    *,
    tenant: Tenant,
    target: TenantStatus,
    now: datetime,
    suspension_reason: ev.SuspensionReason = ev.SuspensionReason.manual,
    reactivation_reason: ev.ReactivationReason = ev.ReactivationReason.manual,
    churn_reason: str | None = None,
    invoice_id: str | None = None,
    restricted: bool = False,
) -> None:
    """Move ``tenant`` (whose row the caller holds) to ``target``, or 409.

    ``churned`` is terminal, so ``tenant.churned`` is published at most once per tenant.
    """
    previous = TenantStatus(tenant.status)
    common = {
        "tenant_id": str(tenant.id),
        "company_name": tenant.company_name,
        "timezone": tenant_timezone(tenant),
    }
    event: ev.OnboardingEvent
    match (previous, target):
        case (TenantStatus.onboarding, TenantStatus.active):
            tenant.activated_at = now
            event = ev.TenantActivated(**common, status=ev.TenantStatus.active, activated_at=now)
        case (TenantStatus.active, TenantStatus.suspended):
            tenant.suspended_at = now
            tenant.suspension_reason = suspension_reason.value
            tenant.restricted = restricted
            if suspension_reason is ev.SuspensionReason.subscription_canceled:
                tenant.scheduled_suspension_at = None
            event = ev.TenantSuspended(
                **common,
                status=ev.TenantStatus.suspended,
                reason=suspension_reason,
                suspended_at=now,
                invoice_id=invoice_id,
                subscription_id=tenant.subscription_id,
            )
        case (TenantStatus.suspended, TenantStatus.active):
            tenant.suspension_reason = None
            tenant.restricted = False
            tenant.scheduled_churn_at = None
            event = ev.TenantReactivated(
                **common,
                status=ev.TenantStatus.active,
                reason=reactivation_reason,
                reactivated_at=now,
                invoice_id=invoice_id,
            )
        case (
            TenantStatus.onboarding | TenantStatus.active | TenantStatus.suspended,
            TenantStatus.churned,
        ):
            tenant.churned_at = now
            tenant.churn_reason = (churn_reason or MANUAL_CHURN)[:500]
            tenant.scheduled_suspension_at = None
            tenant.scheduled_churn_at = None
            event = ev.TenantChurned(
                **common,
                status=event_tenant_status(TenantStatus.churned),
                reason=tenant.churn_reason,
                churned_at=now,
                subscription_id=tenant.subscription_id,
            )
        case _:
            raise InvalidTransition(
                "tenant", previous.value, target.value, allowed=[s.value for s in ALLOWED[previous]]
            )
    tenant.status = target.value
    tenant.updated_at = now
    await publish(session, event)
