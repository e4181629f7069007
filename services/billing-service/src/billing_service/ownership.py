"""Which tenant owns each id a billing-service request names (``servicekit.authz``), and
the read model of known tenants it relies on."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing_service.models import Correction, Invoice, KnownTenant, Subscription
from servicekit.authz import Owner, Ownership, owner_of
from servicekit.known_tenants import KnownTenants

ownership = Ownership()
# the tenant ids requests name are checked against onboarding's announcements
known_tenants = KnownTenants(KnownTenant)
hear_tenant = known_tenants.hear
ownership.resolver("tenant")(known_tenants.owner)


@ownership.resolver("subscription")
async def subscription_owner(session: AsyncSession, value: str) -> Owner:
    return await owner_of(
        session, select(Subscription.tenant_id).where(Subscription.id == str(uuid.UUID(value)))
    )


@ownership.resolver("invoice")
async def invoice_owner(session: AsyncSession, value: str) -> Owner:
    return await owner_of(
        session, select(Invoice.tenant_id).where(Invoice.id == str(uuid.UUID(value)))
    )


@ownership.resolver("charge")
async def charge_owner(session: AsyncSession, value: str) -> Owner:
    """A charge is known through the invoice it paid: a refund can only name ours."""
    return await owner_of(
        session, select(Invoice.tenant_id).where(Invoice.stripe_charge_id == value).limit(1)
    )


@ownership.resolver("refund")
async def refund_owner(session: AsyncSession, value: str) -> Owner:
    return await owner_of(
        session,
        select(Correction.tenant_id).where(
            Correction.id == str(uuid.UUID(value)), Correction.kind == "refund"
        ),
    )
