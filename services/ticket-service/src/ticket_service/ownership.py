"""Which tenant owns each id a ticket-service request names (``servicekit.authz``)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.authz import Owner, Ownership, owner_of
from ticket_service.models import AccessRequest, AccountUser, Ticket
from ticket_service.tickets import repository

ownership = Ownership()


def canonical_tenant(value: str) -> str:
    """Tenant ids are onboarding's UUIDs; anything else names no tenant (422)."""
    return str(uuid.UUID(value))


@ownership.resolver("tenant", not_found_code="account-not-found")
async def tenant_owner(session: AsyncSession, value: str) -> Owner:
    # A tenant exists here once a tenant.* event of onboarding was applied. Read with
    # what a ticket create needs of the tenant (plan tier, config version), kept for
    # it: the check costs a create no statement (docs/benchmarks.md, request path).
    tenant_id = canonical_tenant(value)
    intake = await repository.intake_context(session, tenant_id=tenant_id, keep=True)
    return tenant_id if intake.tenant_known else None


@ownership.resolver("ticket")
async def ticket_owner(session: AsyncSession, value: str) -> Owner:
    return await owner_of(session, select(Ticket.tenant_id).where(Ticket.id == uuid.UUID(value)))


@ownership.resolver("ticket_detail", noun="ticket")
async def ticket_detail_owner(session: AsyncSession, value: str) -> Owner:
    """A ticket whose detail the request reads (GET /v1/tickets/{id}): read with its
    detail's context in the one statement the endpoint needs anyway, kept for it."""
    row = await repository.ticket_with_context(session, uuid.UUID(value), keep=True)
    return None if row is None else row.ticket.tenant_id


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
