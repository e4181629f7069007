"""Which tenant owns each id an escalation-service request names (``servicekit.authz``),
and the read model of known tenants it relies on."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from escalation_service.bugs.schemas import TicketRef
from escalation_service.models import Bug, BugLink, KnownTenant, TicketView
from servicekit.authz import Owner, Ownership, owner_of
from servicekit.errors import Unprocessable
from servicekit.known_tenants import KnownTenants

ownership = Ownership()
# the tenant ids requests name are checked against onboarding's announcements
known_tenants = KnownTenants(KnownTenant)
hear_tenant = known_tenants.hear
ownership.resolver("tenant")(known_tenants.owner)


@ownership.resolver("bug")
async def bug_owner(session: AsyncSession, value: str) -> Owner:
    """A bug belongs to every tenant it affects: the reporter's, those listed as affected
    and those of its linked tickets (``bugs.repository.affects_tenant``)."""
    bug_id = uuid.UUID(value)
    row = (
        await session.execute(select(Bug.tenant_id, Bug.affected_tenants).where(Bug.id == bug_id))
    ).one_or_none()
    if row is None:
        return None
    linked = await session.scalars(select(BugLink.tenant_id).where(BugLink.bug_id == bug_id))
    return frozenset({row.tenant_id, *(row.affected_tenants or []), *linked})


@ownership.resolver("ticket")
async def ticket_owner(session: AsyncSession, value: str) -> Owner:
    """A ticket's real tenant, from the ticket-service's events (never a request body)."""
    return await owner_of(
        session, select(TicketView.tenant_id).where(TicketView.ticket_id == value)
    )


async def ensure_ticket_tenants(
    session: AsyncSession, refs: list[TicketRef], *, listed_in: str | None = None
) -> None:
    """A link records the ticket's real tenant: a body claiming another is refused (a
    staff token too), so a link can never put a ticket under the wrong tenant."""
    for index, ref in enumerate(refs):
        real = await session.scalar(
            select(TicketView.tenant_id).where(TicketView.ticket_id == ref.ticket_id)
        )
        if real is not None and real != ref.tenant_id:
            raise Unprocessable(
                "the ticket belongs to another tenant than the one named",
                code="ticket-tenant-mismatch",
                errors=[
                    {
                        "field": f"linked_tickets.{index}.tenant_id"
                        if len(refs) > 1
                        else "tenant_id",
                        "in": "body",
                        "message": "not the tenant of this ticket",
                        "code": "ticket-tenant-mismatch",
                    }
                ],
            )
