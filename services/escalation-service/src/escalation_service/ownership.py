"""Which tenant owns each id an escalation-service request names (``servicekit.authz``),
and the read model of known tenants it relies on."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from escalation_service.bugs import repository as bugs_repository
from escalation_service.impact import repository as impact_repository
from escalation_service.models import KnownTenant
from servicekit.authz import Owner, Ownership, owner_of
from servicekit.known_tenants import KnownTenants

ownership = Ownership()
# the tenant ids requests name are checked against onboarding's announcements
known_tenants = KnownTenants(KnownTenant)
ownership.resolver("tenant")(known_tenants.owner)


@ownership.resolver("bug")
async def bug_owner(session: AsyncSession, value: str) -> Owner:
    """A bug belongs to every tenant it affects: the reporter's, those listed as affected
    and those of its linked tickets (``bugs.repository.affects_tenant``)."""
    return await bugs_repository.tenants_of(session, uuid.UUID(value))


@ownership.resolver("ticket")
async def ticket_owner(session: AsyncSession, value: str) -> Owner:
    """A ticket's real tenant, from the ticket-service's events (never a request body)."""
    return await owner_of(session, impact_repository.ticket_tenant_statement(value))
