"""Which tenant owns each id an onboarding-service request names (``servicekit.authz``)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from onboarding_service.tenants import repository as tenants
from onboarding_service.users import repository as users
from servicekit.authz import Owner, Ownership, owner_of

ownership = Ownership()


@ownership.resolver("tenant")
async def tenant_owner(session: AsyncSession, value: str) -> Owner:
    return await owner_of(session, tenants.owner_query(uuid.UUID(value)))


@ownership.resolver("user")
async def user_owner(session: AsyncSession, value: str) -> Owner:
    return await owner_of(session, users.owner_query(uuid.UUID(value)))
