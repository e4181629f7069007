"""Every query on users and memberships."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from onboarding_service.domain import UserRole, UserStatus
from onboarding_service.models import Tenant, User


async def lock_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> Tenant | None:
    """The tenant row FOR UPDATE: serialises everything that counts seats or ticks steps."""
    result = await session.scalars(
        select(Tenant)
        .where(Tenant.id == tenant_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return result.first()


async def seats_in_use(session: AsyncSession, *, tenant_id: uuid.UUID, now: datetime) -> int:
    """Members holding a seat: everyone not deactivated, pending invitations included
    (expired ones no longer hold a seat)."""
    holding = or_(
        User.status.in_([UserStatus.active, UserStatus.inactive, UserStatus.locked]),
        and_(User.status == UserStatus.invited, User.invitation_expires_at > now),
    )
    count = await session.scalar(
        select(func.count()).select_from(User).where(User.tenant_id == tenant_id, holding)
    )
    return int(count or 0)


async def active_admins(
    session: AsyncSession, *, tenant_id: uuid.UUID, excluding: uuid.UUID
) -> int:
    """Admins of the tenant who can sign in, other than ``excluding``."""
    count = await session.scalar(
        select(func.count())
        .select_from(User)
        .where(
            User.tenant_id == tenant_id,
            User.id != excluding,
            User.role == UserRole.admin.value,
            User.status.in_([UserStatus.active.value, UserStatus.inactive.value]),
        )
    )
    return int(count or 0)


async def find_by_email(session: AsyncSession, *, tenant_id: uuid.UUID, email: str) -> User | None:
    result = await session.scalars(
        select(User).where(User.tenant_id == tenant_id, User.email == email.lower())
    )
    return result.first()


async def find_by_token_hash(session: AsyncSession, token_hash: str) -> User | None:
    result = await session.scalars(select(User).where(User.invitation_token_hash == token_hash))
    return result.first()


async def get_for_update(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    result = await session.scalars(
        select(User)
        .where(User.id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return result.first()
