"""Which tenant owns each id a billing-service request names (``servicekit.authz``), and
the read model of known tenants it relies on."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from billing_service.models import Correction, Invoice, KnownTenant, Subscription
from servicekit.authz import Owner, Ownership, owner_of
from supportops_events import Envelope
from supportops_events.onboarding import TenantEvent

ownership = Ownership()


async def remember_tenant(
    session: AsyncSession, *, tenant_id: str, status: str, at: datetime
) -> None:
    statement = insert(KnownTenant).values(tenant_id=tenant_id, status=status, heard_at=at)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[KnownTenant.tenant_id],
            set_={"status": statement.excluded.status, "heard_at": statement.excluded.heard_at},
            where=KnownTenant.heard_at <= statement.excluded.heard_at,
        )
    )


async def hear_tenant(session: AsyncSession, envelope: Envelope) -> None:
    data = envelope.data
    assert isinstance(data, TenantEvent)
    await remember_tenant(
        session, tenant_id=str(data.tenant_id), status=data.status.value, at=envelope.time
    )


@ownership.resolver("tenant")
async def tenant_owner(session: AsyncSession, value: str) -> Owner:
    tenant_id = str(uuid.UUID(value))  # onboarding's ids are UUIDs; anything else is a 422
    found = await session.scalar(
        select(KnownTenant.tenant_id).where(KnownTenant.tenant_id == tenant_id)
    )
    return found


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
