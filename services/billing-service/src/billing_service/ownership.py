"""Which tenant owns each id a billing-service request names (``servicekit.authz``), and
the read model of known tenants it relies on."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from billing_service.corrections import repository as corrections
from billing_service.invoices import repository as invoices
from billing_service.models import KnownTenant
from billing_service.subscriptions import repository as subscriptions
from servicekit.authz import Owner, Ownership, owner_of
from servicekit.known_tenants import KnownTenants

ownership = Ownership()
# the tenant ids requests name are checked against onboarding's announcements
known_tenants = KnownTenants(KnownTenant)
ownership.resolver("tenant")(known_tenants.owner)


@ownership.resolver("subscription")
async def subscription_owner(session: AsyncSession, value: str) -> Owner:
    return await owner_of(session, subscriptions.tenant_of(str(uuid.UUID(value))))


@ownership.resolver("invoice")
async def invoice_owner(session: AsyncSession, value: str) -> Owner:
    return await owner_of(session, invoices.tenant_of(str(uuid.UUID(value))))


@ownership.resolver("charge")
async def charge_owner(session: AsyncSession, value: str) -> Owner:
    """A charge is known through the invoice it paid: a refund can only name ours."""
    return await owner_of(session, invoices.tenant_of_charge(value))


@ownership.resolver("refund")
async def refund_owner(session: AsyncSession, value: str) -> Owner:
    return await owner_of(session, corrections.tenant_of(str(uuid.UUID(value)), kind="refund"))
