"""Which tenant owns each id an onboarding-service request names (``servicekit.authz``)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from onboarding_service.models import Tenant, User
from servicekit.authz import Owner, Ownership, owner_of

ownership = Ownership()


@ownership.resolver("tenant")
async def tenant_owner(session: AsyncSession, value: str) -> Owner:
    return await owner_of(session, select(Tenant.id).where(Tenant.id == uuid.UUID(value)))


@ownership.resolver("user")
async def user_owner(session: AsyncSession, value: str) -> Owner:
    return await owner_of(session, select(User.tenant_id).where(User.id == uuid.UUID(value)))
