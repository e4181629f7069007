"""Which tenant owns each id a ticket-service request names (``servicekit.authz``)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.authz import Owner, Ownership, owner_of
from ticket_service.models import AccessRequest, Account, AccountUser, Ticket

ownership = Ownership()


def canonical_tenant(value: str) -> str:
    """Tenant ids are onboarding's UUIDs; anything else names no tenant (422)."""
    return str(uuid.UUID(value))


@ownership.resolver("tenant", not_found_code="account-not-found")
async def tenant_owner(session: AsyncSession, value: str) -> Owner:
    # A tenant exists here once a tenant.* event of onboarding was applied.
    tenant_id = canonical_tenant(value)
    status = await session.scalar(
        select(Account.tenant_status).where(Account.tenant_id == tenant_id)
    )
    return tenant_id if status is not None else None


@ownership.resolver("ticket")
async def ticket_owner(session: AsyncSession, value: str) -> Owner:
    return await owner_of(session, select(Ticket.tenant_id).where(Ticket.id == uuid.UUID(value)))


@ownership.resolver("user")
async def user_owner(session: AsyncSession, value: str) -> Owner:
    """A user of a tenant, from onboarding's ``user.*`` events."""
    return await owner_of(
        session, select(AccountUser.tenant_id).where(AccountUser.user_id == value)
    )


@ownership.resolver("access_request")
async def access_request_owner(session: AsyncSession, value: str) -> Owner:
    return await owner_of(
        session, select(AccessRequest.tenant_id).where(AccessRequest.id == uuid.UUID(value))
    )
